#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "ot/op.hpp"
#include "ot/result.hpp"

namespace office::ot {

/// JSON encoding of text-unicode ops in the npm package's exact shape:
/// `[3, "hi", {"d": 2}, {"d": "xy"}]`. Kept apart from op.hpp so that the hot
/// path does not include nlohmann/json. Pure and thread-safe.
///
/// Decoding is strict about what is not an op component (booleans, null,
/// nested arrays, objects other than exactly {"d": number|string},
/// non-integer or negative numbers, numbers above 2^53): these return an
/// invalid-argument Error. Empty components (0, "", {"d":0}, {"d":""}) decode so that
/// normalize() can drop them and check_op() can reject them with the npm
/// message. Strings must be valid UTF-8 (nlohmann's parser enforces it; the
/// decoder checks again for values built in code).

/// Decodes a parsed JSON value.
Result<Op> op_from_json(const nlohmann::json& j);

/// Parses JSON text and decodes it.
Result<Op> parse_op(std::string_view json_text);

/// Encodes an op as a JSON value / as compact JSON text.
nlohmann::json op_to_json(const Op& op);
std::string dump_op(const Op& op);

}  // namespace office::ot
