// officectl: the administrator's command-line tool. It talks to a server over
// its REST API (docs/officectl.md). This file builds the command line and
// runs what it chose; each command group lives in its own cmd_<group>.cpp.
#include <CLI/CLI.hpp>

#include "cmd/officectl/commands.hpp"
#include "cmd/officectl/output.hpp"
#include "cmd/officectl/session.hpp"

namespace {

// The exit codes belong on every level's --help.
void add_footer(CLI::App& app) {
  app.footer(office::ctl::kExitCodesHelp);
  for (auto* sub : app.get_subcommands({})) add_footer(*sub);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace office::ctl;
  GlobalOptions options;
  CLI::App app{"officectl: administer an office-suite server", "officectl"};
  app.fallthrough();  // global options are accepted after the subcommand too
  app.set_version_flag("--version", std::string("officectl ") + OFFICE_VERSION);
  app.require_subcommand(1);
  app.add_option("--server", options.server,
                 "server URL, e.g. https://office.example.com (default: the stored login's)")
      ->envname("OFFICE_SERVER");
  app.add_option("--token", options.token,
                 "access token to use instead of the stored login (prefer OFFICE_TOKEN: "
                 "arguments are visible to other users)")
      ->envname("OFFICE_TOKEN");
  app.add_flag("--json", options.json, "print the server's JSON instead of tables");
  app.add_option("--cacert", options.ca_file, "https: trust this CA bundle (PEM)")
      ->envname("OFFICE_CACERT")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure", options.insecure, "https: do not verify the server's certificate");
  app.add_option("--timeout", options.timeout_s, "seconds to wait for each answer")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();

  Session session(options);
  Action action;
  add_login_commands(app, session, action);
  add_bus_commands(app, session, action);
  add_footer(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help, the version, or the error
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (!action) return usage_error("no command given: see officectl --help");
  return action();
}
