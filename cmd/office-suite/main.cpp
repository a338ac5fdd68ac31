// office-suite: the server binary. Stage 1 (the monolith) serves everything
// from one process with SQLite under --data-dir.
#include <CLI/CLI.hpp>

#include <iostream>

#include "app/app.hpp"
#include "core/config.hpp"
#include "core/log.hpp"

extern char** environ;

int main(int argc, char** argv) {
  CLI::App cli{"office-suite: self-hosted collaborative office platform"};
  cli.set_version_flag("--version", std::string("office-suite ") + OFFICE_VERSION);
  cli.require_subcommand(1);

  auto* serve = cli.add_subcommand("serve", "run the server (monolith: everything in one process)");
  std::string config_file, listen, data_dir, port_file, database;
  serve->add_option("--config", config_file, "YAML configuration file")->check(CLI::ExistingFile);
  serve->add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)");
  serve->add_option("--data-dir", data_dir, "directory for the database and keys");
  serve->add_option("--port-file", port_file, "write the bound port to this file");
  std::string grpc_listen, grpc_port_file;
  serve->add_option("--grpc-listen", grpc_listen,
                    "HOST:PORT for the gRPC server (UserService, DocSync); default: none");
  serve->add_option("--grpc-port-file", grpc_port_file, "write the bound gRPC port to this file");
  serve->add_option("--database", database,
                    "postgresql://... to use PostgreSQL (default: SQLite in the data dir)");
  std::string bus_url;
  serve->add_option("--bus", bus_url,
                    "nats://HOST:PORT to use NATS JetStream (default: the in-process bus)");

  auto* keys = cli.add_subcommand("config-keys", "list every configuration key with its default");

  auto* signing = cli.add_subcommand("keys", "manage the access-token signing keys");
  signing->require_subcommand(1);
  auto* rotate = signing->add_subcommand(
      "rotate", "create a new EdDSA signing key; the previous one keeps verifying its tokens");
  std::string rotate_config, rotate_data_dir;
  rotate->add_option("--config", rotate_config, "YAML configuration file")
      ->check(CLI::ExistingFile);
  rotate->add_option("--data-dir", rotate_data_dir, "directory holding the keys");

  CLI11_PARSE(cli, argc, argv);

  if (*keys) {
    for (const auto& k : office::config_keys())
      std::cout << k.key << " (" << k.env << ", " << k.type << ", default '" << k.default_value
                << "'): " << k.help << "\n";
    return 0;
  }

  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);

  if (*rotate) {
    std::vector<std::pair<std::string, std::string>> over;
    if (!rotate_data_dir.empty()) over.emplace_back("data_dir", rotate_data_dir);
    auto config = office::load_config(
        rotate_config.empty() ? std::nullopt : std::optional<std::string>(rotate_config), env,
        over);
    if (!config) {
      std::cerr << "office-suite: " << config.error().message << "\n";
      return 2;
    }
    auto done = office::app::rotate_signing_key(*config);
    if (!done) {
      std::cerr << "office-suite keys rotate: " << done.error().message << "\n";
      return 1;
    }
    std::cout << *done << "\n";
    return 0;
  }
  std::vector<std::pair<std::string, std::string>> overrides;
  if (!listen.empty()) overrides.emplace_back("server.listen", listen);
  if (!data_dir.empty()) overrides.emplace_back("data_dir", data_dir);
  if (!port_file.empty()) overrides.emplace_back("server.port_file", port_file);
  if (!grpc_listen.empty()) overrides.emplace_back("server.grpc_listen", grpc_listen);
  if (!grpc_port_file.empty()) overrides.emplace_back("server.grpc_port_file", grpc_port_file);
  if (!database.empty()) overrides.emplace_back("database.url", database);
  if (!bus_url.empty()) overrides.emplace_back("bus.url", bus_url);
  auto config = office::load_config(
      config_file.empty() ? std::nullopt : std::optional<std::string>(config_file), env, overrides);
  if (!config) {
    std::cerr << "office-suite: " << config.error().message << "\n";
    return 2;
  }
  office::log::init({config->log.level, config->log.format});
  int rc = 1;
  {  // the App is gone before the log is closed
    auto app = office::app::App::create(*config);
    if (app) {
      rc = (*app)->run();
    } else {
      spdlog::critical("cannot start: {}", app.error().message);
    }
  }
  office::log::shutdown();
  return rc;
}
