// libFuzzer: arbitrary bytes as a DocSync EditRequest (what a gRPC client
// sends): the op conversion must refuse or accept without crashing, an
// accepted op must survive the round trip to protobuf and back, and applying
// it to a text must either work or fail cleanly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <google/protobuf/stubs/logging.h>

#include "docs/grpc_convert.hpp"
#include "ot/document.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Invalid UTF-8 in a string field fails the parse (what gRPC then does
  // with the call) and protobuf logs it; not interesting here.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  office::docs::v1::EditRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto op = office::docs::from_proto(req.op());
  if (!op) return 0;
  office::docs::v1::RemoteOp out;
  office::docs::to_proto(*op, out.mutable_op());
  auto again = office::docs::from_proto(out.op());
  if (!again || *again != *op) std::abort();
  (void)office::ot::apply_text("héllo 😀 wörld 漢字", *op);
  return 0;
}
