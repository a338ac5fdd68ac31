#pragma once

#include <functional>

#include "cmd/officectl/session.hpp"

namespace CLI {
class App;
}

// The command groups: each adds its subcommands to the root and, when one of
// them is chosen, sets the action that main() runs. A new group is one more
// cmd_<group>.cpp and one line in main.cpp.
namespace office::ctl {

/// What the command line asked for; returns the exit code (output.hpp).
using Action = std::function<int()>;

/// `officectl login`, `logout`, `whoami` (cmd_login.cpp).
void add_login_commands(CLI::App& app, Session& session, Action& action);
/// `officectl bus stats`, `officectl bus dead-letters ...` (cmd_bus.cpp).
void add_bus_commands(CLI::App& app, Session& session, Action& action);

}  // namespace office::ctl
