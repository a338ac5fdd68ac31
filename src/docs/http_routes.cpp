#include "docs/http_routes.hpp"

#include <charconv>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/json_body.hpp"

namespace office::docs {

using net::Method;
using net::Request;
using net::Response;
using nlohmann::json;

namespace {

// In the path of DELETE .../shares/{kind}/{granteeId}, the share to the
// whole tenant (whose grantee id is empty) is named "tenant/-".
constexpr std::string_view kTenantGranteeInPath = "-";

json to_json(const Document& d) {
  json j = {{"id", d.id},
            {"tenantId", d.tenant_id},
            {"title", d.title},
            {"ownerId", d.owner_id},
            {"createTime", rfc3339_ms(d.create_ms)},
            {"updateTime", rfc3339_ms(d.update_ms)},
            {"version", d.version},
            {"size", d.size},
            {"role", role_name(d.role)}};
  if (d.trash_ms) j["trashTime"] = rfc3339_ms(*d.trash_ms);
  return j;
}

json to_json(const Share& s) {
  return {{"kind", grantee_kind_name(s.kind)},
          {"granteeId", s.grantee_id},
          {"role", role_name(s.role)},
          {"createTime", rfc3339_ms(s.create_ms)}};
}

json to_json(const VersionInfo& v) {
  return {{"version", v.version},
          {"authorId", v.author_id},
          {"time", rfc3339_ms(v.ts_ms)},
          {"size", v.size},
          {"kind", op_kind_name(v.kind)}};
}

Response error_reply(const Error& e) { return Response::error(e); }

template <class T>
Response reply(const Result<T>& r, int status = 200) {
  if (!r) return error_reply(r.error());
  return Response::json(status, to_json(*r).dump());
}

Response empty_reply(const Status& st) {
  if (!st) return error_reply(st.error());
  return Response::no_content();
}

template <class T>
Response page_reply(const Result<Page<T>>& r, const char* key) {
  if (!r) return error_reply(r.error());
  json items = json::array();
  for (const auto& i : r->items) items.push_back(to_json(i));
  return Response::json(200, json{{key, items}, {"nextPageToken", r->next_page_token}}.dump());
}

// Unwraps a Result inside a handler: returns the error response from the handler.
// NOLINTBEGIN(bugprone-macro-parentheses): `var` names a declaration.
#define OFFICE_TRY_ASSIGN(var, expr)                           \
  auto var##_result = (expr);                                  \
  if (!var##_result) return error_reply(var##_result.error()); \
  auto var = std::move(*var##_result)
// NOLINTEND(bugprone-macro-parentheses)

Result<PageRequest> page_of(const Request& req) {
  PageRequest page;
  if (auto size = req.query_param("pageSize")) {
    int n = 0;
    auto [end, ec] = std::from_chars(size->data(), size->data() + size->size(), n);
    if (size->empty() || ec != std::errc() || end != size->data() + size->size() || n < 1 ||
        n > 500)
      return Error::invalid("pageSize must be between 1 and 500");
    page.page_size = n;
  }
  if (auto token = req.query_param("pageToken")) page.page_token = *token;
  return page;
}

// A boolean query parameter: absent or "false" is false, "true" is true.
Result<bool> bool_param(const Request& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v || *v == "false") return false;
  if (*v == "true") return true;
  return Error::invalid(std::string(name) + " must be true or false");
}

Result<GranteeKind> kind_of(std::string_view name) {
  auto k = parse_grantee_kind(name);
  if (!k) return Error::invalid("kind must be user, group or tenant");
  return *k;
}

void document_routes(net::Router& r, DocumentService& s) {
  r.add(Method::kPost, "/api/v1/docs", [&s](Request& req) {
    // The body may be left out: a new document is "Untitled".
    OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body.empty() ? "{}" : req.body, {"title"}));
    OFFICE_TRY_ASSIGN(title, body.opt_string("title"));
    return reply(s.create(req.caller(), title.value_or("")), 201);
  });
  r.add(Method::kGet, "/api/v1/docs", [&s](Request& req) {
    DocumentService::ListRequest list;
    OFFICE_TRY_ASSIGN(page, page_of(req));
    OFFICE_TRY_ASSIGN(trashed, bool_param(req, "trashed"));
    list.page = std::move(page);
    list.trashed = trashed;
    list.title_contains = req.query_param("q").value_or("");
    return page_reply(s.list(req.caller(), list), "documents");
  });
  r.add(Method::kGet, "/api/v1/docs/{id}",
        [&s](Request& req) { return reply(s.get(req.caller(), req.param("id"))); });
  r.add(Method::kPatch, "/api/v1/docs/{id}", [&s](Request& req) {
    OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body, {"title"}));
    OFFICE_TRY_ASSIGN(title, body.string("title"));
    return reply(s.rename(req.caller(), req.param("id"), title));
  });
  // DELETE moves the document to the trash (200 with the document, which
  // can be restored); ?permanent=true deletes a trashed document for good (204).
  r.add(Method::kDelete, "/api/v1/docs/{id}", [&s](Request& req) {
    OFFICE_TRY_ASSIGN(permanent, bool_param(req, "permanent"));
    if (permanent) return empty_reply(s.erase(req.caller(), req.param("id")));
    return reply(s.trash(req.caller(), req.param("id")));
  });
  r.add(Method::kPost, "/api/v1/docs/{id}/restore",
        [&s](Request& req) { return reply(s.restore(req.caller(), req.param("id"))); });
  r.add(Method::kGet, "/api/v1/docs/{id}/versions", [&s](Request& req) {
    OFFICE_TRY_ASSIGN(page, page_of(req));
    return page_reply(s.history(req.caller(), req.param("id"), page), "versions");
  });
}

void share_routes(net::Router& r, DocumentService& s) {
  r.add(Method::kGet, "/api/v1/docs/{id}/shares", [&s](Request& req) {
    auto list = s.shares(req.caller(), req.param("id"));
    if (!list) return error_reply(list.error());
    json items = json::array();
    for (const auto& sh : *list) items.push_back(to_json(sh));
    return Response::json(200, json{{"shares", items}}.dump());
  });
  // Creates the share or replaces its role: 200 either way.
  r.add(Method::kPost, "/api/v1/docs/{id}/shares", [&s](Request& req) {
    OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body, {"kind", "granteeId", "role"}));
    OFFICE_TRY_ASSIGN(kind_name, body.string("kind"));
    OFFICE_TRY_ASSIGN(grantee, body.opt_string("granteeId"));
    OFFICE_TRY_ASSIGN(role_str, body.string("role"));
    OFFICE_TRY_ASSIGN(kind, kind_of(kind_name));
    auto role = parse_role(role_str);
    if (!role) return error_reply(Error::invalid("role must be viewer, commenter or editor"));
    Share sh;
    sh.kind = kind;
    sh.grantee_id = grantee.value_or("");
    sh.role = *role;
    return reply(s.share(req.caller(), req.param("id"), sh));
  });
  r.add(Method::kDelete, "/api/v1/docs/{id}/shares/{kind}/{granteeId}", [&s](Request& req) {
    OFFICE_TRY_ASSIGN(kind, kind_of(req.param("kind")));
    std::string_view grantee = req.param("granteeId");
    if (kind == GranteeKind::kTenant) {
      if (grantee != kTenantGranteeInPath)
        return error_reply(Error::invalid("the share to the whole tenant is shares/tenant/-"));
      grantee = {};
    }
    return empty_reply(s.revoke(req.caller(), req.param("id"), kind, grantee));
  });
}

Result<std::int64_t> version_param(const Request& req) {
  std::string_view v = req.param("version");
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < 0)
    return Error::invalid("version must be a non-negative integer");
  return n;
}

// Waits (on the worker) for the real-time side's answer.
template <class T, class F>
Result<T> wait_for(F&& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    return Error{ErrorCode::kDeadlineExceeded, "the document did not answer in time"};
  return future.get();
}

void history_routes(net::Router& r, SyncService& sync) {
  // The text at a version (what ShareDB's `nf` gives a client).
  r.add(Method::kGet, "/api/v1/docs/{id}/versions/{version}", [&sync](Request& req) {
    OFFICE_TRY_ASSIGN(version, version_param(req));
    const Principal& p = req.caller();
    std::string id(req.param("id"));
    auto snap =
        wait_for<Snapshot>([&](auto cb) { sync.snapshot_at(p, id, version, std::move(cb)); });
    if (!snap) return error_reply(snap.error());
    if (!snap->exists && snap->version == 0)
      return error_reply(Error::not_found("document not found"));
    json j = {{"id", id},
              {"version", snap->version},
              {"exists", snap->exists},
              {"text", snap->text},
              {"time", rfc3339_ms(snap->ts_ms)}};
    return Response::json(200, j.dump());
  });
  // Restores the text of a version as a new op, which collaborators receive.
  r.add(Method::kPost, "/api/v1/docs/{id}/versions/{version}/restore", [&sync](Request& req) {
    OFFICE_TRY_ASSIGN(version, version_param(req));
    const Principal& p = req.caller();
    std::string id(req.param("id"));
    auto done = wait_for<SyncService::Submitted>(
        [&](auto cb) { sync.restore_version(p, id, version, std::move(cb)); });
    if (!done) return error_reply(done.error());
    return Response::json(
        200, json{{"id", id}, {"restoredVersion", version}, {"version", done->version + 1}}.dump());
  });
}

#undef OFFICE_TRY_ASSIGN

}  // namespace

void register_routes(net::Router& router, DocumentService& service, SyncService* sync) {
  document_routes(router, service);
  share_routes(router, service);
  if (sync != nullptr) history_routes(router, *sync);
}

}  // namespace office::docs
