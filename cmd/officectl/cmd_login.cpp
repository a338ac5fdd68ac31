// officectl login / logout / whoami: the tokens kept in the user's config
// directory.
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>

#include "cmd/officectl/commands.hpp"
#include "cmd/officectl/output.hpp"

namespace office::ctl {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxPasswordBytes = 1024;
constexpr std::size_t kMaxEmailBytes = 320;
constexpr std::size_t kMaxOrgBytes = 64;

struct LoginArgs {
  std::string email;
  std::string org;
  bool password_stdin = false;
};

// The terminal's settings while the password is typed without echo, so that
// Ctrl-C does not leave the terminal silent.
int g_tty_fd = -1;
struct termios g_tty_saved {};

extern "C" void restore_tty_and_exit(int sig) {
  if (g_tty_fd >= 0) ::tcsetattr(g_tty_fd, TCSAFLUSH, &g_tty_saved);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

Result<std::string> read_line(int fd) {
  std::string line;
  char c = 0;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    if (line.size() >= kMaxPasswordBytes) return Error::invalid("the password is too long");
    line += c;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Asks on the controlling terminal with echo off.
Result<std::string> prompt_password(const std::string& email) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return Error::invalid(
        "no terminal to ask for the password on: pipe it in with --password-stdin");
  }
  std::string prompt = "Password for " + printable(email, 200) + ": ";
  (void)!::write(fd, prompt.data(), prompt.size());
  struct termios tty {};
  bool restore = ::tcgetattr(fd, &tty) == 0;
  if (restore) {
    g_tty_saved = tty;
    g_tty_fd = fd;
    std::signal(SIGINT, restore_tty_and_exit);
    std::signal(SIGTERM, restore_tty_and_exit);
    tty.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &tty);
  }
  auto line = read_line(fd);
  if (restore) {
    ::tcsetattr(fd, TCSAFLUSH, &g_tty_saved);
    g_tty_fd = -1;
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  }
  (void)!::write(fd, "\n", 1);
  ::close(fd);
  return line;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int run_login(Session& session, const LoginArgs& args) {
  auto server = session.server();
  if (!server) return report(server.error());
  if (args.email.empty() || args.email.size() > kMaxEmailBytes)
    return usage_error("--email must be 1 to " + std::to_string(kMaxEmailBytes) + " characters");
  if (args.org.size() > kMaxOrgBytes)
    return usage_error("--org must be at most " + std::to_string(kMaxOrgBytes) + " characters");
  auto password = args.password_stdin ? read_line(STDIN_FILENO) : prompt_password(args.email);
  if (!password) return report(password.error());
  if (password->empty()) return usage_error("the password is empty");

  json body = {{"email", args.email}, {"password", *password}};
  if (!args.org.empty()) body["tenant"] = args.org;
  auto tokens = session.call_public(*server, "POST", "/api/v1/auth/login", body.dump());
  if (!tokens) return report(tokens.error());
  StoredLogin login;
  login.server = server->to_string();
  login.email = args.email;
  login.tenant = args.org;
  login.access_token = json_string(*tokens, "accessToken");
  login.refresh_token = json_string(*tokens, "refreshToken");
  login.access_expires_at = now_s() + static_cast<std::int64_t>(json_u64(*tokens, "expiresIn"));
  if (login.access_token.empty()) {
    return report(Error::unavailable("the login answer of " + login.server + " has no token"));
  }
  auto path = session.login_path();
  if (!path) return report(path.error());
  {
    auto lock = LoginLock::acquire(*path);
    if (!lock) return report(lock.error());
    if (auto st = save_login(*path, login); !st) return report(st.error());
  }
  const json user = tokens->value("user", json::object());
  if (session.options().json) {
    print_json({{"server", login.server}, {"user", user}, {"loginFile", *path}});
    return kExitOk;
  }
  std::cout << "Logged in to " << login.server << " as " << printable(args.email, 320);
  if (user.value("platformAdmin", false)) std::cout << " (platform administrator)";
  std::cout << ".\nTokens kept in " << *path << " (mode 0600).\n";
  return kExitOk;
}

int run_logout(Session& session) {
  auto path = session.login_path();
  if (!path) return report(path.error());
  auto lock = LoginLock::acquire(*path);
  if (!lock) return report(lock.error());
  auto stored = load_login(*path);
  if (!stored) return report(stored.error());
  if (!*stored) {
    std::cout << "Not logged in.\n";
    return kExitOk;
  }
  // The session ends on the server too (its tokens stop working at once);
  // the local file goes whatever happens there.
  Status revoked;
  if (auto server = ServerUrl::parse((*stored)->server); !server) {
    revoked = server.error();
  } else if (!(*stored)->refresh_token.empty()) {
    auto r = session.call_public(*server, "POST", "/api/v1/auth/logout",
                                 json{{"refreshToken", (*stored)->refresh_token}}.dump());
    // Already ended (expired, or revoked elsewhere) is what we wanted.
    if (!r && r.error().code != ErrorCode::kUnauthenticated) revoked = r.error();
  }
  if (auto st = remove_login(*path); !st) return report(st.error());
  if (!revoked) {
    std::cerr << "officectl: deleted the local login, but could not end the session on "
              << (*stored)->server << ": " << printable(revoked.error().message) << "\n";
    return exit_code(revoked.error()) == kExitUsage ? kExitFailed : exit_code(revoked.error());
  }
  std::cout << "Logged out of " << (*stored)->server << ".\n";
  return kExitOk;
}

int run_whoami(Session& session) {
  auto me = session.call("GET", "/api/v1/users/me");
  if (!me) return report(me.error());
  if (session.options().json) {
    print_json(*me);
    return kExitOk;
  }
  auto server = session.server();
  std::cout << printable(json_string(*me, "email"), 320) << " ("
            << printable(json_string(*me, "role"), 32)
            << (me->value("platformAdmin", false) ? ", platform administrator" : "")
            << ") in tenant " << printable(json_string(*me, "tenantId"), 64) << " on "
            << (server ? server->to_string() : std::string("?")) << "\n";
  return kExitOk;
}

}  // namespace

void add_login_commands(CLI::App& app, Session& session, Action& action) {
  auto args = std::make_shared<LoginArgs>();
  auto* login = app.add_subcommand(
      "login", "log in with e-mail and password; later commands use the stored tokens");
  login->add_option("--email", args->email, "your e-mail address")->required();
  login->add_option("--org", args->org, "organisation (tenant) slug; default: the default one");
  login->add_flag("--password-stdin", args->password_stdin,
                  "read the password from standard input (else it is asked for on the terminal)");
  login->callback([&session, &action, args] {
    action = [&session, args] { return run_login(session, *args); };
  });

  auto* logout =
      app.add_subcommand("logout", "end the session on the server and delete the stored tokens");
  logout->callback([&session, &action] { action = [&session] { return run_logout(session); }; });

  auto* whoami = app.add_subcommand("whoami", "who the stored login (or --token) is");
  whoami->callback([&session, &action] { action = [&session] { return run_whoami(session); }; });
}

}  // namespace office::ctl
