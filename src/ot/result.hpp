#pragma once

#include "core/result.hpp"

namespace office::ot {

/// The OT module uses the project's one Result type. An OT function refuses
/// its input with an ErrorCode::kInvalidArgument Error whose message mirrors
/// the text of the error thrown by the npm package `ot-text-unicode` where one
/// exists (for example "Op has a trailing skip"), so that clients see the
/// same wording.
using office::Error;
using office::Result;
using office::Status;

}  // namespace office::ot
