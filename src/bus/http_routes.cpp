#include "bus/http_routes.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "core/hex.hpp"
#include "core/ids.hpp"
#include "core/json_body.hpp"

namespace office::bus {

using net::Method;
using net::Request;
using net::Response;
using nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "/api/v1/admin/bus";
constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/";
constexpr std::size_t kMaxPageSize = 1000;
constexpr std::size_t kMaxPageTokenBytes = 256;

std::string route(std::string_view rest) { return std::string(kPrefix) + std::string(rest); }

json to_json(const Event& e) {
  // The payload is an Any whose type the bus need not know: its bytes go out
  // as base64 (see register_routes).
  return {{"id", e.id},
          {"type", e.type},
          {"tenant", e.tenant},
          {"subject", e.subject},
          {"occurredAt", rfc3339_ms(e.occurred_ms)},
          {"traceparent", e.traceparent},
          {"payload",
           {{"@type", std::string(kTypeUrlPrefix) + e.type}, {"value", base64_encode(e.payload)}}}};
}

json to_json(const DeadLetter& d) {
  return {{"id", d.id},
          {"event", to_json(d.event)},
          {"consumer", d.consumer},
          {"reason", d.reason},
          {"detail", d.detail},
          {"deliveries", d.deliveries},
          {"deadLetterTime", rfc3339_ms(d.time_ms)}};
}

json to_json(const ConsumerStats& c) {
  return {
      {"name", c.name},          {"filter", c.filter},           {"pending", c.pending},
      {"inFlight", c.in_flight}, {"redelivered", c.redelivered}, {"deadLettered", c.dead_lettered}};
}

// A handler's detail text comes from whatever failed: never let invalid UTF-8
// in it turn the reply into an exception.
Response ok(int status, const json& body) {
  return Response::json(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

Response error_reply(const Error& e) { return Response::error(e); }

// Only platform administrators: the bus and its dead letters span every tenant.
net::Handler admin_only(net::Handler handler) {
  return [handler = std::move(handler)](Request& req) -> Response {
    if (!req.caller().platform_admin) {
      return error_reply(
          Error::denied("the bus administration API is for platform administrators"));
    }
    return handler(req);
  };
}

Result<std::string> dead_letter_id(const Request& req) {
  std::string_view id = req.param("id");
  if (!Uuid::parse(id)) return Error::invalid("dead letter id must be a UUID");
  return std::string(id);
}

// The `consumer` query parameter: empty when absent.
Result<std::string> consumer_param(const Request& req) {
  auto consumer = req.query_param("consumer");
  if (!consumer) return std::string();
  if (auto st = validate_consumer_name(*consumer); !st) return std::move(st).error();
  return std::move(*consumer);
}

// A boolean query parameter: absent or "false" is false, "true" is true.
Result<bool> bool_param(const Request& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v || *v == "false") return false;
  if (*v == "true") return true;
  return Error::invalid(std::string(name) + " must be true or false");
}

Result<DeadLetterQuery> list_query(const Request& req) {
  DeadLetterQuery q;
  auto consumer = consumer_param(req);
  if (!consumer) return std::move(consumer).error();
  q.consumer = std::move(*consumer);
  if (auto size = req.query_param("pageSize")) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(size->data(), size->data() + size->size(), n);
    if (size->empty() || ec != std::errc() || end != size->data() + size->size() || n < 1 ||
        n > kMaxPageSize) {
      return Error::invalid("pageSize must be between 1 and " + std::to_string(kMaxPageSize));
    }
    q.limit = n;
  }
  if (auto token = req.query_param("pageToken")) {
    // Opaque to us (the bus made it), but bounded and printable before it
    // reaches the bus.
    bool printable = true;
    for (char c : *token) printable = printable && c > ' ' && c < 0x7f;
    if (token->size() > kMaxPageTokenBytes || !printable)
      return Error::invalid("pageToken is not one this server gave");
    q.page_token = std::move(*token);
  }
  return q;
}

// A body is not expected; an empty JSON object is tolerated (some clients
// always send one).
Status no_body(const Request& req) {
  if (req.body.empty()) return {};
  auto body = JsonBody::parse(req.body, {});
  if (!body) return std::move(body).error();
  return {};
}

}  // namespace

void register_routes(net::Router& router, EventBus& bus, AdminRoutesOptions options) {
  auto outbox_pending = std::move(options.outbox_pending);
  router.add(Method::kGet, route("/stats"),
             admin_only([&bus, outbox_pending](Request&) -> Response {
               auto consumers = bus.stats();
               if (!consumers) return error_reply(consumers.error());
               std::uint64_t pending = 0;
               if (outbox_pending) {
                 auto n = outbox_pending();
                 if (!n) return error_reply(n.error());
                 pending = *n;
               }
               json list = json::array();
               for (const auto& c : *consumers) list.push_back(to_json(c));
               return ok(200, {{"backend", std::string(bus.backend())},
                               {"consumers", std::move(list)},
                               {"outboxPending", pending}});
             }));
  router.add(Method::kGet, route("/dead-letters"), admin_only([&bus](Request& req) -> Response {
               auto query = list_query(req);
               if (!query) return error_reply(query.error());
               auto page = bus.dead_letters(*query);
               if (!page) return error_reply(page.error());
               json items = json::array();
               for (const auto& d : page->items) items.push_back(to_json(d));
               return ok(200, {{"deadLetters", std::move(items)},
                               {"nextPageToken", page->next_page_token}});
             }));
  router.add(Method::kGet, route("/dead-letters/{id}"),
             admin_only([&bus](Request& req) -> Response {
               auto id = dead_letter_id(req);
               if (!id) return error_reply(id.error());
               auto letter = bus.dead_letter(*id);
               if (!letter) return error_reply(letter.error());
               return ok(200, to_json(*letter));
             }));
  router.add(Method::kPost, route("/dead-letters/{id}/replay"),
             admin_only([&bus](Request& req) -> Response {
               auto id = dead_letter_id(req);
               if (!id) return error_reply(id.error());
               if (auto st = no_body(req); !st) return error_reply(st.error());
               auto event_id = bus.replay_dead_letter(*id);
               if (!event_id) return error_reply(event_id.error());
               return ok(200, {{"eventId", *event_id}});
             }));
  router.add(Method::kDelete, route("/dead-letters/{id}"),
             admin_only([&bus](Request& req) -> Response {
               auto id = dead_letter_id(req);
               if (!id) return error_reply(id.error());
               if (auto st = bus.remove_dead_letter(*id); !st) return error_reply(st.error());
               return Response::no_content();
             }));
  // Purging every consumer's dead letters needs all=true, so that a
  // forgotten or mistyped parameter cannot do it.
  router.add(Method::kDelete, route("/dead-letters"), admin_only([&bus](Request& req) -> Response {
               auto consumer = consumer_param(req);
               if (!consumer) return error_reply(consumer.error());
               auto all = bool_param(req, "all");
               if (!all) return error_reply(all.error());
               if (!consumer->empty() && *all)
                 return error_reply(Error::invalid("give either consumer or all=true, not both"));
               if (consumer->empty() && !*all) {
                 return error_reply(Error::invalid(
                     "give consumer=NAME, or all=true to purge every consumer's dead letters"));
               }
               auto purged = bus.purge_dead_letters(*consumer);
               if (!purged) return error_reply(purged.error());
               return ok(200, {{"purged", *purged}});
             }));
}

}  // namespace office::bus
