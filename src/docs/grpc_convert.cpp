#include "docs/grpc_convert.hpp"

#include "ot/utf8.hpp"

namespace office::docs {

namespace pb = office::docs::v1;

Result<ot::Op> from_proto(const google::protobuf::RepeatedPtrField<pb::OpComponent>& components) {
  ot::Op op;
  op.reserve(static_cast<std::size_t>(components.size()));
  int i = 0;
  for (const auto& c : components) {
    std::string where = "op[" + std::to_string(i++) + "]: ";
    switch (c.component_case()) {
      case pb::OpComponent::kSkip:
        if (c.skip() <= 0) return Error::invalid(where + "skip must be > 0");
        op.push_back(ot::Component::skip(static_cast<std::uint64_t>(c.skip())));
        break;
      case pb::OpComponent::kInsert:
        if (c.insert().empty()) return Error::invalid(where + "insert must not be empty");
        if (!ot::utf8::valid(c.insert())) return Error::invalid(where + "insert is not UTF-8");
        op.push_back(ot::Component::insert(c.insert()));
        break;
      case pb::OpComponent::kDelete:
        if (c.delete_() <= 0) return Error::invalid(where + "delete must be > 0");
        op.push_back(ot::Component::del(static_cast<std::uint64_t>(c.delete_())));
        break;
      case pb::OpComponent::kDeleteText:
        if (c.delete_text().empty()) return Error::invalid(where + "delete_text must not be empty");
        if (!ot::utf8::valid(c.delete_text()))
          return Error::invalid(where + "delete_text is not UTF-8");
        op.push_back(ot::Component::del_text(c.delete_text()));
        break;
      default:
        return Error::invalid(where + "empty component (one of skip, insert, delete, delete_text)");
    }
  }
  if (auto st = ot::check_op(op); !st) return Error::invalid("op: " + st.error().message);
  return op;
}

void to_proto(const ot::Op& op, google::protobuf::RepeatedPtrField<pb::OpComponent>* out) {
  out->Reserve(static_cast<int>(op.size()));
  for (const auto& c : op) {
    auto* p = out->Add();
    if (c.is_skip())
      p->set_skip(static_cast<std::int64_t>(c.len));
    else if (c.is_insert())
      p->set_insert(c.text);
    else if (c.has_text)
      p->set_delete_text(c.text);
    else
      p->set_delete_(static_cast<std::int64_t>(c.len));
  }
}

void to_remote_op(const CommittedOp& op, pb::RemoteOp* out) {
  out->set_doc_id(op.doc_id);
  out->set_version(op.version);
  out->set_src(op.src);
  out->set_seq(op.seq);
  if (op.kind == CommittedOp::Kind::kCreate)
    out->set_create_text(op.create_text);
  else
    to_proto(op.op, out->mutable_op());
}

}  // namespace office::docs
