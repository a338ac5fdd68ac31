#include "core/config.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace office {
namespace {

TEST(Config, DefaultsAreValid) {
  auto c = load_config(std::nullopt, {}, {});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->server.listen, "127.0.0.1:8080");
  EXPECT_EQ(c->data_dir, "./data");
}

TEST(Config, PrecedenceFileEnvFlags) {
  std::string path = ::testing::TempDir() + "/office_config_test.yaml";
  std::ofstream(path) << "server:\n  listen: 0.0.0.0:9000\n  io_threads: 3\nlog:\n  level: debug\n"
                         "data_dir: /tmp/x\n";
  auto c =
      load_config(path, {"OFFICE_SERVER_IO_THREADS=5", "PATH=/usr/bin"}, {{"data_dir", "/tmp/y"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->server.listen, "0.0.0.0:9000");  // file
  EXPECT_EQ(c->server.io_threads, 5u);          // env beats file
  EXPECT_EQ(c->log.level, "debug");
  EXPECT_EQ(c->data_dir, "/tmp/y");  // flag beats file
}

TEST(Config, UnknownKeysNamed) {
  Config c;
  auto st = apply_config_yaml(c, "server:\n  lisen: 1.2.3.4:80\n", "my.yaml");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("server.lisen"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("my.yaml"), std::string::npos);

  auto env = apply_config_env(c, {"OFFICE_SERVR_LISTEN=x"});
  ASSERT_FALSE(env);
  EXPECT_NE(env.error().message.find("OFFICE_SERVR_LISTEN"), std::string::npos);

  auto flag = set_config_value(c, "nope", "1");
  ASSERT_FALSE(flag);
  EXPECT_NE(flag.error().message.find("'nope'"), std::string::npos);
}

TEST(Config, TypeErrorsNamed) {
  Config c;
  auto st = apply_config_yaml(c, "server:\n  io_threads: many\n", "f.yaml");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("server.io_threads"), std::string::npos);
  EXPECT_FALSE(set_config_value(c, "server.access_log", "maybe"));
  EXPECT_FALSE(set_config_value(c, "server.io_threads", "-1"));
  EXPECT_FALSE(set_config_value(c, "server.io_threads", "99999999999"));
  EXPECT_FALSE(apply_config_yaml(c, "server: [1, 2]\n", "f.yaml"));
  EXPECT_FALSE(apply_config_yaml(c, "server:\n  listen: [a]\n", "f.yaml"));
  EXPECT_FALSE(apply_config_yaml(c, "{{{{", "f.yaml"));
  EXPECT_TRUE(apply_config_yaml(c, "", "empty.yaml"));
  // Found by the config_yaml fuzzer: a self-referential alias recursed forever.
  auto cyclic = apply_config_yaml(c, "a: &x {b: *x}\n", "f.yaml");
  ASSERT_FALSE(cyclic);
  EXPECT_NE(cyclic.error().message.find("unknown configuration key 'a'"), std::string::npos);
  EXPECT_FALSE(apply_config_yaml(c, "server: &x {listen: *x}\n", "f.yaml"));
  EXPECT_FALSE(apply_config_yaml(c, "server:\n  tls:\n    cert: x\n", "f.yaml"));
}

TEST(Config, Validation) {
  EXPECT_FALSE(load_config(std::nullopt, {}, {{"server.listen", "nonsense"}}));
  EXPECT_FALSE(load_config(std::nullopt, {}, {{"server.listen", "1.2.3.4:70000"}}));
  EXPECT_FALSE(load_config(std::nullopt, {}, {{"log.level", "loud"}}));
  EXPECT_FALSE(load_config(std::nullopt, {}, {{"auth.jwt_secret", "short"}}));
  EXPECT_FALSE(load_config(std::nullopt, {}, {{"auth.login_account_max_backoff_s", "0"}}));
  EXPECT_FALSE(load_config(std::nullopt, {}, {{"auth.jwt_algorithm", "none"}}));
  EXPECT_FALSE(load_config(std::nullopt, {}, {{"auth.jwt_algorithm", "RS256"}}));
  EXPECT_EQ(load_config(std::nullopt, {}, {})->auth.jwt_algorithm, "EdDSA");
  EXPECT_FALSE(load_config(std::nullopt, {}, {{"auth.login_limit_max_entries", "10"}}));
  auto limits = load_config(std::nullopt, {"OFFICE_AUTH_LOGIN_PAIR_MAX_FAILURES=0"}, {});
  ASSERT_TRUE(limits.ok());
  EXPECT_EQ(limits->auth.login_pair_max_failures, 0u);
  EXPECT_FALSE(load_config(std::string("/nonexistent/office.yaml"), {}, {}));
  auto v6 = parse_listen_address("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->first, "::1");
  EXPECT_EQ(v6->second, 0);
}

TEST(Config, PublicOrigins) {
  Config c;
  c.server.listen = "127.0.0.1:0";
  EXPECT_EQ(*public_origins(c, 8123),
            (std::vector<std::string>{"http://127.0.0.1:8123", "http://localhost:8123"}));
  c.server.listen = "192.168.1.5:80";
  EXPECT_EQ(public_origins(c, 80)->back(), "http://192.168.1.5");
  c.server.public_origins = "HTTPS://Office.Example.com:443/, http://localhost:8080";
  EXPECT_EQ(*public_origins(c, 1),
            (std::vector<std::string>{"https://office.example.com", "http://localhost:8080"}));
  EXPECT_EQ(*normalize_origin("http://[::1]:8080"), "http://[::1]:8080");
  for (const char* bad : {"office.example.com", "ftp://x", "https://x/path", "https://x:0",
                          "https://x:99999", "https://", "null", "https://u@x"})
    EXPECT_FALSE(normalize_origin(bad).ok()) << bad;
  EXPECT_FALSE(load_config(std::nullopt, {}, {{"server.public_origins", "https://x/app"}}));
}

TEST(Config, KeysListed) {
  auto keys = config_keys();
  ASSERT_FALSE(keys.empty());
  bool found = false;
  for (const auto& k : keys)
    if (k.key == "admin.email") {
      found = true;
      EXPECT_EQ(k.env, "OFFICE_ADMIN_EMAIL");
    }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace office
