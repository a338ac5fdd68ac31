#pragma once
// Ops and committed ops <-> their protobuf form (DocSync), for the gRPC
// server and client of this module only.

#include <google/protobuf/repeated_ptr_field.h>

#include "core/result.hpp"
#include "docs/types.hpp"
#include "office/docs/v1/docs.pb.h"
#include "ot/op.hpp"

namespace office::docs {

/// A text-unicode op from its components, checked (ot::check_op): positive
/// skips and deletes, non-empty valid UTF-8 text. kInvalidArgument naming
/// what is wrong.
Result<ot::Op> from_proto(
    const google::protobuf::RepeatedPtrField<office::docs::v1::OpComponent>& components);
void to_proto(const ot::Op& op,
              google::protobuf::RepeatedPtrField<office::docs::v1::OpComponent>* out);
void to_remote_op(const CommittedOp& op, office::docs::v1::RemoteOp* out);

}  // namespace office::docs
