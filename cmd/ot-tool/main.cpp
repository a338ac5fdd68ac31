// ot-tool: reads JSON requests, one per line, on stdin and writes one JSON
// line per request on stdout: {"result": ...} or {"error": "..."}.
//
//   {"fn":"apply","doc":"abc","op":[1,{"d":1}]}
//   {"fn":"transform","op":[...],"other":[...],"side":"left"}
//   {"fn":"compose","a":[...],"b":[...]}
//   {"fn":"transformPosition","pos":3,"op":[...]}
//   {"fn":"transformSelection","sel":[1,4],"op":[...]}   (or "sel":3)
//   {"fn":"normalize"|"checkOp"|"invert"|"isNoop"|"isInvertible"|"stripInvertible","op":[...]}
//   {"fn":"makeInvertible","op":[...],"doc":"..."}
//   {"fn":"create","doc":"..."}
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "ot/document.hpp"
#include "ot/json_codec.hpp"
#include "ot/op.hpp"

namespace {

using nlohmann::json;
using office::ot::Op;
using office::ot::Result;

json error(const std::string& message) { return json{{"error", message}}; }
json result(json value) { return json{{"result", std::move(value)}}; }

Result<Op> field_op(const json& req, const char* name) {
  const auto it = req.find(name);
  if (it == req.end()) return office::Error::invalid(std::string("missing field \"") + name + "\"");
  return office::ot::op_from_json(*it);
}

Result<std::string> field_string(const json& req, const char* name) {
  const auto it = req.find(name);
  if (it == req.end() || !it->is_string()) {
    return office::Error::invalid(std::string("field \"") + name + "\" must be a string");
  }
  return it->get<std::string>();
}

Result<std::int64_t> as_position(const json& j) {
  if (!j.is_number_integer()) return office::Error::invalid("positions must be integers");
  return j.get<std::int64_t>();
}

json handle(const json& req) {
  namespace ot = office::ot;
  if (!req.is_object() || !req.contains("fn") || !req["fn"].is_string()) {
    return error("request must be an object with a string \"fn\"");
  }
  const std::string fn = req["fn"].get<std::string>();
  if (fn == "create") {
    auto doc = field_string(req, "doc");
    if (!doc) return error(doc.error().message);
    return result(ot::Document(*doc).to_string());
  }
  if (fn == "compose") {
    auto a = field_op(req, "a");
    if (!a) return error(a.error().message);
    auto b = field_op(req, "b");
    if (!b) return error(b.error().message);
    auto r = ot::compose(*a, *b);
    return r ? result(ot::op_to_json(*r)) : error(r.error().message);
  }
  auto op = field_op(req, "op");
  if (!op) return error(op.error().message);
  if (fn == "apply") {
    auto doc = field_string(req, "doc");
    if (!doc) return error(doc.error().message);
    auto r = ot::apply_text(*doc, *op);
    return r ? result(*r) : error(r.error().message);
  }
  if (fn == "transform") {
    auto other = field_op(req, "other");
    if (!other) return error(other.error().message);
    const std::string side = req.value("side", std::string());
    if (side != "left" && side != "right") {
      return error("side (" + side + ") must be 'left' or 'right'");
    }
    auto r = ot::transform(*op, *other, side == "left" ? ot::Side::kLeft : ot::Side::kRight);
    return r ? result(ot::op_to_json(*r)) : error(r.error().message);
  }
  if (fn == "transformPosition") {
    auto pos = as_position(req.value("pos", json()));
    if (!pos) return error(pos.error().message);
    return result(ot::transform_position(*pos, *op));
  }
  if (fn == "transformSelection") {
    const json sel = req.value("sel", json());
    if (sel.is_array() && sel.size() == 2) {
      auto a = as_position(sel[0]);
      auto b = as_position(sel[1]);
      if (!a || !b) return error("Invalid selection");
      auto r = ot::transform_selection({*a, *b}, *op);
      return result(json::array({r.first, r.second}));
    }
    auto p = as_position(sel);
    if (!p) return error("Invalid selection");
    return result(ot::transform_position(*p, *op));
  }
  if (fn == "normalize") return result(ot::op_to_json(ot::normalize(*op)));
  if (fn == "checkOp") {
    auto s = ot::check_op(*op);
    return s ? result(true) : error(s.error().message);
  }
  if (fn == "invert") {
    auto r = ot::invert(*op);
    return r ? result(ot::op_to_json(*r)) : error(r.error().message);
  }
  if (fn == "isNoop") return result(ot::is_noop(*op));
  if (fn == "isInvertible") return result(ot::is_invertible(*op));
  if (fn == "stripInvertible") return result(ot::op_to_json(ot::strip_invertible(*op)));
  if (fn == "makeInvertible") {
    auto doc = field_string(req, "doc");
    if (!doc) return error(doc.error().message);
    return result(ot::op_to_json(ot::make_invertible(*op, *doc)));
  }
  return error("unknown fn \"" + fn + "\"");
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
    const json out = req.is_discarded() ? error("request is not valid JSON") : handle(req);
    std::cout << out.dump() << '\n';
    std::cout.flush();
  }
  return 0;
}
