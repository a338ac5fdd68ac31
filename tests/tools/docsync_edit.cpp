// A native DocSync client for the integration tests (tests/integration/
// grpc.test.mjs): edits one document through docs::DocSyncClient, the gRPC
// client library, while ShareDB clients edit it too. Speaks JSON lines:
//   stdout {"event":"opened","text":...,"version":N}
//          {"event":"edited","version":N}        (its edits are acknowledged)
//          {"event":"final","text":...,"version":N}
//   stdin  "final N"  (report the text once the replica reached version N)
// `--profile` prints UserService.GetProfile's answer instead.
#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <random>
#include <thread>

#include "docs/grpc_client.hpp"
#include "office/user/v1/user.grpc.pb.h"
#include "ot/utf8.hpp"

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

int fail(const std::string& what, const office::Error& e) {
  std::cout << "{\"event\":\"error\",\"what\":" << json_string(what)
            << ",\"code\":" << json_string(std::string(office::error_code_name(e.code)))
            << ",\"message\":" << json_string(e.message) << "}" << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"DocSync test client"};
  std::string target, token, client_id = "native", doc;
  int edits = 20;
  unsigned seed = 1;
  bool profile = false;
  cli.add_option("--target", target)->required();
  cli.add_option("--token", token)->required();
  cli.add_option("--client-id", client_id);
  cli.add_option("--doc", doc);
  cli.add_option("--edits", edits);
  cli.add_option("--seed", seed);
  cli.add_flag("--profile", profile);
  CLI11_PARSE(cli, argc, argv);

  if (profile) {
    auto ch = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    auto stub = office::user::v1::UserService::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    office::user::v1::User u;
    auto st = stub->GetProfile(&ctx, office::user::v1::GetProfileRequest(), &u);
    std::cout << "{\"event\":\"profile\",\"code\":" << st.error_code()
              << ",\"message\":" << json_string(st.error_message())
              << ",\"id\":" << json_string(u.id()) << ",\"email\":" << json_string(u.email())
              << ",\"tenantId\":" << json_string(u.tenant_id()) << "}" << std::endl;
    return 0;
  }

  office::docs::DocSyncClient::Options o;
  o.target = target;
  o.access_token = token;
  o.client_id = client_id;
  auto client = office::docs::DocSyncClient::connect(o);
  if (!client) return fail("connect", client.error());
  auto& c = **client;
  if (auto st = c.open(doc); !st) return fail("open", st.error());
  std::cout << "{\"event\":\"opened\",\"text\":" << json_string(c.text(doc))
            << ",\"version\":" << c.version(doc) << "}" << std::endl;

  const std::vector<std::string> pieces = {"g", "rpc", "😀", "漢字", "🇯🇵", " ", "ü"};
  std::mt19937 rng(seed);
  for (int n = 0; n < edits && !c.stream_error(); ++n) {
    std::string text = c.text(doc);
    auto len = static_cast<std::uint64_t>(office::ot::utf8::count(text));
    office::ot::Op op;
    if (len > 0 && rng() % 3 == 0) {
      auto pos = rng() % len;
      op = office::ot::make_remove(pos, std::min<std::uint64_t>(1 + rng() % 2, len - pos));
    } else {
      op = office::ot::make_insert(rng() % (len + 1), pieces[rng() % pieces.size()]);
    }
    // A remote op may land between text() and edit(): then the op no longer
    // fits and is simply not made.
    (void)c.edit(doc, op);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 12));
  }
  if (auto st = c.sync(doc, 0, std::chrono::seconds(30)); !st) return fail("sync", st.error());
  std::cout << "{\"event\":\"edited\",\"version\":" << c.version(doc) << "}" << std::endl;

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.rfind("final ", 0) != 0) continue;
    std::int64_t v = std::stoll(line.substr(6));
    if (auto st = c.sync(doc, v, std::chrono::seconds(30)); !st) return fail("final", st.error());
    std::cout << "{\"event\":\"final\",\"text\":" << json_string(c.text(doc))
              << ",\"version\":" << c.version(doc) << "}" << std::endl;
    return 0;
  }
  return 0;
}
