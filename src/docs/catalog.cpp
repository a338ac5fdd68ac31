#include "docs/catalog.hpp"

#include <charconv>

#include "core/hex.hpp"
#include "core/ids.hpp"
#include "ot/utf8.hpp"
#include "storage/transact.hpp"

namespace office::docs {

using catalog_store::Caller;
using storage::read_value;
using storage::Tx;
using storage::write_value;

namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 500;

Error doc_not_found() { return Error::not_found("document not found"); }

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// C0 controls, DEL and the C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F).
bool has_control(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9f) return true;
  }
  return false;
}

// Text a user typed (a title, a search): valid UTF-8, no control characters,
// at most kMaxTitleChars code points once trimmed.
Result<std::string_view> checked_text(std::string_view in, std::string_view field) {
  std::string_view s = trim(in);
  if (!ot::utf8::valid(s) || has_control(s))
    return Error::invalid(std::string(field) + " must be text without control characters");
  if (ot::utf8::count(s) > kMaxTitleChars)
    return Error::invalid(std::string(field) + " must be at most " +
                          std::to_string(kMaxTitleChars) + " characters");
  return s;
}

Result<int> page_size(int size) {
  if (size == 0) return kDefaultPageSize;
  if (size < 1 || size > kMaxPageSize) return Error::invalid("pageSize must be between 1 and 500");
  return size;
}

Error bad_token() { return Error::invalid("invalid pageToken"); }

bool parse_i64(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// List pages resume after (update_ms, id): the token is "<update_ms> <id>", base64url.
std::string list_token(const Document& last) {
  return base64url_encode(std::to_string(last.update_ms) + " " + last.id);
}

Result<std::optional<std::pair<std::int64_t, std::string>>> decode_list_token(
    std::string_view token) {
  using After = std::optional<std::pair<std::int64_t, std::string>>;
  if (token.empty()) return After();
  std::string raw;
  if (token.size() > 512 || !base64url_decode(token, raw)) return bad_token();
  auto space = raw.find(' ');
  std::int64_t ms = 0;
  if (space == std::string::npos || !parse_i64(std::string_view(raw).substr(0, space), ms) ||
      !valid_doc_id(std::string_view(raw).substr(space + 1)))
    return bad_token();
  return After(std::pair{ms, raw.substr(space + 1)});
}

// History pages resume below a version: the token is the version, base64url.
Result<std::optional<std::int64_t>> decode_version_token(std::string_view token) {
  if (token.empty()) return std::optional<std::int64_t>();
  std::string raw;
  std::int64_t v = 0;
  if (token.size() > 64 || !base64url_decode(token, raw) || !parse_i64(raw, v) || v < 0)
    return bad_token();
  return std::optional<std::int64_t>(v);
}

// The document as the caller may see it: kNotFound when it does not exist in
// the caller's tenant, when the caller has no role on it, and when it is in
// the trash and the caller is not its owner.
Result<Document> visible(Tx& tx, const Caller& c, std::string_view id) {
  auto d = catalog_store::document_for(tx, c, id);
  if (!d) return d.error();
  if (!*d || (*d)->role == Role::kNone || ((*d)->trash_ms && (*d)->role != Role::kOwner))
    return doc_not_found();
  return std::move(**d);
}

Status require_owner(const Document& d, std::string_view what) {
  if (d.role != Role::kOwner)
    return Error::denied("only the document's owner may " + std::string(what));
  return {};
}

Status require_live(const Document& d) {
  if (d.trash_ms)
    return Error{ErrorCode::kFailedPrecondition, "the document is in the trash; restore it first"};
  return {};
}

}  // namespace

bool valid_doc_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxDocIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '~';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> normalize_title(std::string_view title) {
  auto s = checked_text(title, "title");
  if (!s) return s.error();
  if (s->empty()) return std::string(kUntitled);
  return std::string(*s);
}

Catalog::Catalog(storage::Database& db, identity::IdentityService& identity, const Clock& clock,
                 AccessObserver* observer)
    : db_(db), identity_(identity), clock_(clock), observer_(observer) {}

void Catalog::set_observer(AccessObserver* observer) {
  observer_.store(observer, std::memory_order_release);
}

Result<Caller> Catalog::caller_of(const Principal& p) const {
  Caller c{p.tenant_id, p.user_id, {}};
  auto user = identity_.get_user(p, p.user_id);  // cached by identity; refreshed on its writes
  if (user) {
    c.group_ids = std::move(user->group_ids);
  } else if (user.error().code != ErrorCode::kNotFound) {
    return user.error();
  }
  return c;
}

Result<Document> Catalog::create(const Principal& p, std::string_view title) {
  auto t = normalize_title(title);
  if (!t) return t.error();
  Document d;
  d.id = new_id(clock_);
  d.tenant_id = p.tenant_id;
  d.title = std::move(*t);
  d.owner_id = p.user_id;
  d.create_ms = d.update_ms = clock_.now_ms();
  d.version = 1;  // the create op below is version 0
  d.size = 0;
  d.role = Role::kOwner;
  // The row and its create op in one transaction: a document is never seen
  // without the op that makes it exist for ShareDB clients.
  auto st = db_.write([&](Tx& tx) -> Status {
    if (auto s = catalog_store::insert_document(tx, d); !s) return s;
    return catalog_store::insert_initial_create_op(tx, d.tenant_id, d.id, d.owner_id, d.create_ms);
  });
  if (!st) return st.error();
  return d;
}

Result<Document> Catalog::get(const Principal& p, std::string_view id) {
  if (!valid_doc_id(id)) return doc_not_found();
  auto c = caller_of(p);
  if (!c) return c.error();
  return read_value<Document>(db_, [&](Tx& tx) { return visible(tx, *c, id); });
}

Result<Page<Document>> Catalog::list(const Principal& p, const ListRequest& req) {
  auto size = page_size(req.page.page_size);
  if (!size) return size.error();
  auto after = decode_list_token(req.page.page_token);
  if (!after) return after.error();
  auto search = checked_text(req.title_contains, "title search");
  if (!search) return search.error();
  auto c = caller_of(p);
  if (!c) return c.error();
  catalog_store::ListQuery q;
  q.trashed = req.trashed;
  q.title_contains = std::string(*search);
  q.after = std::move(*after);
  q.limit = *size + 1;  // one more tells whether there is a next page
  auto rows = read_value<std::vector<Document>>(
      db_, [&](Tx& tx) { return catalog_store::list_documents(tx, *c, q); });
  if (!rows) return rows.error();
  Page<Document> page;
  page.items = std::move(*rows);
  if (page.items.size() > static_cast<std::size_t>(*size)) {
    page.items.resize(*size);
    page.next_page_token = list_token(page.items.back());
  }
  return page;
}

Result<Document> Catalog::rename(const Principal& p, std::string_view id, std::string_view title) {
  if (!valid_doc_id(id)) return doc_not_found();
  auto t = normalize_title(title);
  if (!t) return t.error();
  auto c = caller_of(p);
  if (!c) return c.error();
  std::int64_t now = clock_.now_ms();
  return write_value<Document>(db_, [&](Tx& tx) -> Result<Document> {
    auto d = visible(tx, *c, id);
    if (!d) return d.error();
    if (d->role < Role::kEditor)
      return Error::denied("renaming a document needs the editor or owner role");
    if (auto st = require_live(*d); !st) return st.error();
    if (auto st = catalog_store::update_title(tx, c->tenant_id, id, *t, now); !st)
      return st.error();
    d->title = *t;
    d->update_ms = now;
    return d;
  });
}

Result<Document> Catalog::set_trashed(const Principal& p, std::string_view id, bool trashed) {
  if (!valid_doc_id(id)) return doc_not_found();
  auto c = caller_of(p);
  if (!c) return c.error();
  std::int64_t now = clock_.now_ms();
  bool changed = false;  // assigned on every run (the retry rule)
  auto out = write_value<Document>(db_, [&](Tx& tx) -> Result<Document> {
    changed = false;
    auto d = visible(tx, *c, id);
    if (!d) return d.error();
    if (auto st = require_owner(*d, trashed ? "trash it" : "restore it"); !st) return st.error();
    if (d->trash_ms.has_value() == trashed) return d;  // already there
    std::optional<std::int64_t> mark;
    if (trashed) mark = now;
    if (auto st = catalog_store::set_trash(tx, c->tenant_id, id, mark); !st) return st.error();
    d->trash_ms = mark;
    changed = true;
    return d;
  });
  if (out && changed && trashed)
    if (auto* o = observer()) o->document_gone(p.tenant_id, id);
  return out;
}

Result<Document> Catalog::trash(const Principal& p, std::string_view id) {
  return set_trashed(p, id, true);
}

Result<Document> Catalog::restore(const Principal& p, std::string_view id) {
  return set_trashed(p, id, false);
}

Status Catalog::erase(const Principal& p, std::string_view id) {
  if (!valid_doc_id(id)) return doc_not_found();
  auto c = caller_of(p);
  if (!c) return c.error();
  auto st = db_.write([&](Tx& tx) -> Status {
    auto d = visible(tx, *c, id);
    if (!d) return d.error();
    if (auto s = require_owner(*d, "delete it"); !s) return s;
    if (!d->trash_ms)
      return Error{ErrorCode::kFailedPrecondition,
                   "only a document in the trash can be deleted; trash it first"};
    return catalog_store::delete_document(tx, c->tenant_id, id);
  });
  if (!st) return st;
  if (auto* o = observer()) o->document_gone(p.tenant_id, id);
  return {};
}

Result<Share> Catalog::share(const Principal& p, std::string_view id, const Share& in) {
  if (!valid_doc_id(id)) return doc_not_found();
  if (in.role != Role::kViewer && in.role != Role::kCommenter && in.role != Role::kEditor)
    return Error::invalid("role must be viewer, commenter or editor");
  if (in.kind == GranteeKind::kTenant && !in.grantee_id.empty())
    return Error::invalid("granteeId must be empty for a share to the whole tenant");
  if (in.kind != GranteeKind::kTenant && in.grantee_id.empty())
    return Error::invalid("granteeId is required for a share to a user or group");
  auto c = caller_of(p);
  if (!c) return c.error();
  // The document first, so that a caller without access learns nothing from
  // the grantee checks below.
  auto doc = read_value<Document>(db_, [&](Tx& tx) -> Result<Document> {
    auto d = visible(tx, *c, id);
    if (!d) return d.error();
    if (auto st = require_owner(*d, "share it"); !st) return st.error();
    return d;
  });
  if (!doc) return doc.error();
  if (in.kind == GranteeKind::kUser) {
    if (in.grantee_id == doc->owner_id)
      return Error::invalid("granteeId is the document's owner, who has every right already");
    auto u = identity_.get_user(p, in.grantee_id);
    if (!u && u.error().code == ErrorCode::kNotFound)
      return Error::invalid("granteeId: no such user in this tenant");
    if (!u) return u.error();
  } else if (in.kind == GranteeKind::kGroup) {
    auto g = identity_.get_group(p, in.grantee_id);
    if (!g && g.error().code == ErrorCode::kNotFound)
      return Error::invalid("granteeId: no such group in this tenant");
    if (!g) return g.error();
  }
  Share s = in;
  s.create_ms = clock_.now_ms();
  bool narrowed = false;  // assigned on every run (the retry rule)
  auto out = write_value<Share>(db_, [&](Tx& tx) -> Result<Share> {
    narrowed = false;
    auto d = visible(tx, *c, id);  // again: it may have changed since
    if (!d) return d.error();
    if (auto st = require_owner(*d, "share it"); !st) return st.error();
    if (auto st = require_live(*d); !st) return st.error();
    auto old = catalog_store::share_of(tx, c->tenant_id, id, s.kind, s.grantee_id);
    if (!old) return old.error();
    if (!*old) {
      auto n = catalog_store::count_shares(tx, c->tenant_id, id);
      if (!n) return n.error();
      if (*n >= kMaxSharesPerDocument)
        return Error{ErrorCode::kFailedPrecondition,
                     "a document has at most " + std::to_string(kMaxSharesPerDocument) + " shares"};
    }
    if (auto st = catalog_store::upsert_share(tx, c->tenant_id, id, s); !st) return st.error();
    narrowed = *old && s.role < (*old)->role;
    auto now = catalog_store::share_of(tx, c->tenant_id, id, s.kind, s.grantee_id);
    if (!now) return now.error();
    if (!*now) return Error::internal("share not stored");
    return std::move(**now);
  });
  if (out && narrowed)
    if (auto* o = observer()) o->access_changed(p.tenant_id, id);
  return out;
}

Result<std::vector<Share>> Catalog::shares(const Principal& p, std::string_view id) {
  if (!valid_doc_id(id)) return doc_not_found();
  auto c = caller_of(p);
  if (!c) return c.error();
  return read_value<std::vector<Share>>(db_, [&](Tx& tx) -> Result<std::vector<Share>> {
    auto d = visible(tx, *c, id);
    if (!d) return d.error();
    if (auto st = require_owner(*d, "see its shares"); !st) return st.error();
    return catalog_store::list_shares(tx, c->tenant_id, id);
  });
}

Status Catalog::revoke(const Principal& p, std::string_view id, GranteeKind kind,
                       std::string_view grantee_id) {
  if (!valid_doc_id(id)) return doc_not_found();
  auto c = caller_of(p);
  if (!c) return c.error();
  auto st = db_.write([&](Tx& tx) -> Status {
    auto d = visible(tx, *c, id);
    if (!d) return d.error();
    if (auto s = require_owner(*d, "revoke its shares"); !s) return s;
    auto gone = catalog_store::delete_share(tx, c->tenant_id, id, kind, grantee_id);
    if (!gone) return gone.error();
    if (!*gone) return Error::not_found("share not found");
    return {};
  });
  if (!st) return st;
  if (auto* o = observer()) o->access_changed(p.tenant_id, id);
  return {};
}

Result<Page<VersionInfo>> Catalog::history(const Principal& p, std::string_view id,
                                           const PageRequest& page) {
  if (!valid_doc_id(id)) return doc_not_found();
  auto size = page_size(page.page_size);
  if (!size) return size.error();
  auto before = decode_version_token(page.page_token);
  if (!before) return before.error();
  auto c = caller_of(p);
  if (!c) return c.error();
  auto rows =
      read_value<std::vector<VersionInfo>>(db_, [&](Tx& tx) -> Result<std::vector<VersionInfo>> {
        auto d = visible(tx, *c, id);
        if (!d) return d.error();
        return catalog_store::list_versions(tx, c->tenant_id, id, *before, *size + 1);
      });
  if (!rows) return rows.error();
  Page<VersionInfo> out;
  out.items = std::move(*rows);
  if (out.items.size() > static_cast<std::size_t>(*size)) {
    out.items.resize(*size);
    out.next_page_token = base64url_encode(std::to_string(out.items.back().version));
  }
  return out;
}

Result<Role> Catalog::role_of(const Principal& p, std::string_view doc_id) {
  if (!valid_doc_id(doc_id)) return doc_not_found();
  auto c = caller_of(p);
  if (!c) return c.error();
  return read_value<Role>(db_, [&](Tx& tx) -> Result<Role> {
    auto d = catalog_store::document_for(tx, *c, doc_id);
    if (!d) return d.error();
    if (!*d || (*d)->trash_ms) return doc_not_found();
    return (*d)->role;
  });
}

Status Catalog::insert_for_create(Tx& tx, const Principal& p, std::string_view doc_id,
                                  std::int64_t now_ms) {
  if (!valid_doc_id(doc_id))
    return Error::invalid("document id must be 1 to 128 characters of A-Z a-z 0-9 - _ . ~");
  Document d;
  d.id = std::string(doc_id);
  d.tenant_id = p.tenant_id;
  d.title = std::string(kUntitled);
  d.owner_id = p.user_id;
  d.create_ms = d.update_ms = now_ms;
  d.version = 0;  // the op log moves it when it commits the create op
  d.size = 0;
  // ON CONFLICT DO NOTHING: an existing id leaves the caller's transaction usable.
  auto inserted = catalog_store::insert_document_if_absent(tx, d);
  if (!inserted) return inserted.error();
  if (!*inserted) return Error::exists("document already exists");
  return {};
}

}  // namespace office::docs
