// officectl bus: the event bus's consumers and dead letters, through
// /api/v1/admin/bus (platform administrators; docs/officectl.md).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cmd/officectl/commands.hpp"
#include "cmd/officectl/output.hpp"
#include "core/ids.hpp"

namespace office::ctl {

using nlohmann::json;

namespace {

const std::string kDeadLetters = "/api/v1/admin/bus/dead-letters";

struct ListArgs {
  std::string consumer;
  int limit = 50;
  std::string page_token;
  bool all = false;
};

struct PurgeArgs {
  std::string consumer;
  bool all = false;
  bool yes = false;
};

const json& array_of(const json& j, const char* field) {
  static const json kEmpty = json::array();
  auto it = j.find(field);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

// Dead letter ids are UUIDs: anything else is a typo, caught before a request.
Status check_ids(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (!Uuid::parse(id)) {
      return Error::invalid("'" + printable(id, 64) + "' is not a dead letter id (a UUID)");
    }
  }
  return {};
}

int run_stats(Session& session) {
  auto stats = session.call("GET", "/api/v1/admin/bus/stats");
  if (!stats) return report(stats.error());
  if (session.options().json) {
    print_json(*stats);
    return kExitOk;
  }
  std::cout << "backend: " << printable(json_string(*stats, "backend"), 64)
            << "    outbox pending: " << json_u64(*stats, "outboxPending") << "\n\n";
  Table table({"NAME", "FILTER", "PENDING", "IN-FLIGHT", "REDELIVERED", "DEAD-LETTERED"},
              {false, false, true, true, true, true});
  for (const auto& c : array_of(*stats, "consumers")) {
    table.add_row({json_string(c, "name"), json_string(c, "filter"),
                   std::to_string(json_u64(c, "pending")), std::to_string(json_u64(c, "inFlight")),
                   std::to_string(json_u64(c, "redelivered")),
                   std::to_string(json_u64(c, "deadLettered"))});
  }
  if (table.empty()) {
    std::cout << "No durable consumers.\n";
  } else {
    table.print(std::cout);
  }
  return kExitOk;
}

int run_list(Session& session, const ListArgs& args) {
  std::string token = args.page_token;
  json items = json::array();
  json last_page;
  std::string next;
  while (true) {
    std::string target = kDeadLetters + "?pageSize=" + std::to_string(args.limit);
    if (!args.consumer.empty()) target += "&consumer=" + query_escape(args.consumer);
    if (!token.empty()) target += "&pageToken=" + query_escape(token);
    auto page = session.call("GET", target);
    if (!page) return report(page.error());
    for (const auto& d : array_of(*page, "deadLetters")) items.push_back(d);
    next = json_string(*page, "nextPageToken");
    last_page = std::move(*page);
    if (!args.all || next.empty()) break;
    if (next == token) {
      return report(Error::unavailable("the server gave the same page token twice"));
    }
    token = next;
  }
  if (session.options().json) {
    print_json(args.all ? json{{"deadLetters", items}, {"nextPageToken", ""}} : last_page);
    return kExitOk;
  }
  Table table({"ID", "CONSUMER", "REASON", "DELIVERIES", "DEAD-LETTERED", "SUBJECT", "TYPE"},
              {false, false, false, true, false, false, false});
  for (const auto& d : items) {
    const json event = d.value("event", json::object());
    table.add_row({json_string(d, "id"), json_string(d, "consumer"), json_string(d, "reason"),
                   std::to_string(json_u64(d, "deliveries")), json_string(d, "deadLetterTime"),
                   json_string(event, "subject"), json_string(event, "type")});
  }
  if (table.empty()) {
    std::cout << "No dead letters"
              << (args.consumer.empty() ? "" : " of consumer " + printable(args.consumer, 64))
              << (token.empty() ? "" : " on this page") << ".\n";
  } else {
    table.print(std::cout);
  }
  if (!args.all && !next.empty()) {
    std::cerr << "More: officectl bus dead-letters list --page-token " << printable(next, 300)
              << (args.consumer.empty() ? "" : " --consumer " + printable(args.consumer, 64))
              << " (or --all)\n";
  }
  return kExitOk;
}

// Bytes of a base64 string (proto3 JSON `bytes`, padded or not).
std::size_t base64_size(const std::string& b64) {
  std::size_t n = b64.size();
  while (n > 0 && b64[n - 1] == '=') --n;
  return n * 3 / 4;
}

int run_show(Session& session, const std::string& id) {
  if (auto st = check_ids({id}); !st) return report(st.error());
  auto d = session.call("GET", kDeadLetters + "/" + id);
  if (!d) return report(d.error());
  if (session.options().json) {
    print_json(*d);
    return kExitOk;
  }
  const json event = d->value("event", json::object());
  const json payload = event.value("payload", json::object());
  std::string value = json_string(payload, "value");
  auto field = [](const char* name, const std::string& v) {
    std::cout << name << std::string(16 - std::string_view(name).size(), ' ')
              << (v.empty() ? "(none)" : printable(v)) << "\n";
  };
  field("id:", json_string(*d, "id"));
  field("consumer:", json_string(*d, "consumer"));
  field("reason:", json_string(*d, "reason"));
  field("detail:", json_string(*d, "detail"));
  field("deliveries:", std::to_string(json_u64(*d, "deliveries")));
  field("dead-lettered:", json_string(*d, "deadLetterTime"));
  field("event id:", json_string(event, "id"));
  field("event type:", json_string(event, "type"));
  field("tenant:", json_string(event, "tenant"));
  field("subject:", json_string(event, "subject"));
  field("occurred:", json_string(event, "occurredAt"));
  field("traceparent:", json_string(event, "traceparent"));
  field("payload size:", std::to_string(base64_size(value)) + " bytes");
  // Not through printable(): base64 is printable, and all of it is wanted.
  std::cout << "payload:        " << (value.empty() ? "(none)" : value) << "\n";
  return kExitOk;
}

// Runs `one` for every id, going on after a failure; the exit code is the
// first failure's.
int for_each_id(Session& session, const std::vector<std::string>& ids,
                const std::function<Result<json>(const std::string&)>& one,
                const std::function<std::string(const std::string&, const json&)>& done_line) {
  if (auto st = check_ids(ids); !st) return report(st.error());
  int rc = kExitOk;
  json out = json::array();
  for (const auto& id : ids) {
    auto r = one(id);
    if (!r) {
      std::cerr << "officectl: " << id << ": " << printable(r.error().message) << "\n";
      if (rc == kExitOk) rc = exit_code(r.error());
      out.push_back({{"id", id},
                     {"error",
                      {{"code", std::string(error_code_name(r.error().code))},
                       {"message", r.error().message}}}});
      continue;
    }
    json item = r->is_object() ? *r : json::object();
    item["id"] = id;
    out.push_back(item);
    if (!session.options().json) std::cout << done_line(id, *r) << "\n";
  }
  if (session.options().json) print_json(out);
  return rc;
}

int run_replay(Session& session, const std::vector<std::string>& ids) {
  return for_each_id(
      session, ids,
      [&session](const std::string& id) {
        return session.call("POST", kDeadLetters + "/" + id + "/replay");
      },
      [](const std::string& id, const json& r) {
        return "Replayed " + id + ": event " + printable(json_string(r, "eventId"), 64) +
               " published again.";
      });
}

int run_remove(Session& session, const std::vector<std::string>& ids) {
  return for_each_id(
      session, ids,
      [&session](const std::string& id) { return session.call("DELETE", kDeadLetters + "/" + id); },
      [](const std::string& id, const json&) { return "Removed " + id + "."; });
}

// Asks on the terminal; false unless the answer is y or yes.
bool confirm(const std::string& question) {
  std::cerr << question << " [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES";
}

int run_purge(Session& session, const PurgeArgs& args) {
  if (args.consumer.empty() && !args.all) {
    return usage_error("purge needs --consumer NAME, or --all for every consumer's dead letters");
  }
  std::string whose =
      args.all ? "of every consumer" : "of consumer " + printable(args.consumer, 64);
  if (!args.yes) {
    if (::isatty(STDIN_FILENO) == 0) {
      return usage_error(
          "purge asks for confirmation, but standard input is not a terminal: "
          "add --yes");
    }
    auto server = session.server();
    if (!server) return report(server.error());
    if (!confirm("Purge every dead letter " + whose + " on " + server->to_string() +
                 "? They cannot be replayed afterwards.")) {
      std::cerr << "Nothing purged.\n";
      return kExitFailed;
    }
  }
  std::string target = kDeadLetters + (args.all ? std::string("?all=true")
                                                : "?consumer=" + query_escape(args.consumer));
  auto r = session.call("DELETE", target);
  if (!r) return report(r.error());
  if (session.options().json) {
    print_json(*r);
    return kExitOk;
  }
  std::cout << "Purged " << json_u64(*r, "purged") << " dead letters " << whose << ".\n";
  return kExitOk;
}

void add_dead_letter_commands(CLI::App& bus, Session& session, Action& action) {
  auto* dl = bus.add_subcommand("dead-letters", "events consumers could not handle");
  dl->require_subcommand(1);

  auto list_args = std::make_shared<ListArgs>();
  auto* list = dl->add_subcommand("list", "list dead letters, oldest first");
  list->add_option("--consumer", list_args->consumer, "only this consumer's");
  list->add_option("--limit", list_args->limit, "at most this many per page (1..1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  auto* token =
      list->add_option("--page-token", list_args->page_token, "continue where a page ended");
  list->add_flag("--all", list_args->all, "every page")->excludes(token);
  list->callback([&session, &action, list_args] {
    action = [&session, list_args] { return run_list(session, *list_args); };
  });

  auto show_id = std::make_shared<std::string>();
  auto* show = dl->add_subcommand("show", "one dead letter with its event (payload in base64)");
  show->add_option("id", *show_id, "the dead letter's id")->required();
  show->callback([&session, &action, show_id] {
    action = [&session, show_id] { return run_show(session, *show_id); };
  });

  auto replay_ids = std::make_shared<std::vector<std::string>>();
  auto* replay = dl->add_subcommand(
      "replay", "publish the events again (same event ids) and remove the dead letters");
  replay->add_option("ids", *replay_ids, "dead letter ids")->required();
  replay->callback([&session, &action, replay_ids] {
    action = [&session, replay_ids] { return run_replay(session, *replay_ids); };
  });

  auto remove_ids = std::make_shared<std::vector<std::string>>();
  auto* remove = dl->add_subcommand("remove", "delete dead letters without replaying them");
  remove->add_option("ids", *remove_ids, "dead letter ids")->required();
  remove->callback([&session, &action, remove_ids] {
    action = [&session, remove_ids] { return run_remove(session, *remove_ids); };
  });

  auto purge_args = std::make_shared<PurgeArgs>();
  auto* purge = dl->add_subcommand(
      "purge", "delete every dead letter of a consumer (--consumer) or of all (--all)");
  auto* consumer = purge->add_option("--consumer", purge_args->consumer, "this consumer's");
  purge->add_flag("--all", purge_args->all, "every consumer's")->excludes(consumer);
  purge->add_flag("--yes,-y", purge_args->yes, "do not ask for confirmation");
  purge->callback([&session, &action, purge_args] {
    action = [&session, purge_args] { return run_purge(session, *purge_args); };
  });
}

}  // namespace

void add_bus_commands(CLI::App& app, Session& session, Action& action) {
  auto* bus = app.add_subcommand(
      "bus", "the event bus: consumers and dead letters (platform administrators)");
  bus->require_subcommand(1);
  auto* stats =
      bus->add_subcommand("stats", "backend, outbox backlog, and every durable consumer's counts");
  stats->callback([&session, &action] { action = [&session] { return run_stats(session); }; });
  add_dead_letter_commands(*bus, session, action);
}

}  // namespace office::ctl
