#include "docs/hub.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

#include "core/json_body.hpp"
#include "docs/oplog_store.hpp"
#include "ot/document.hpp"
#include "ot/utf8.hpp"

namespace office::docs {

namespace {

// Calls `done` with an error off the caller's stack (SyncService promises
// callbacks never run inline): on the pool, or inline only if the pool is gone.
template <class T>
void fail_later(ThreadPool& pool, std::shared_ptr<SyncService::Callback<T>> done, Error e) {
  auto task = [done, e]() mutable { (*done)(std::move(e)); };
  if (!pool.try_post(Task(task))) task();
}

Error doc_not_found() { return Error::not_found("document not found"); }

// How often the catalogue rows (version, size, update time) of documents
// being edited catch up with them: all of them in one write (Hub::
// flush_catalogue), not a row update in every document's commits.
constexpr std::chrono::milliseconds kCatalogueEvery{1000};

// The op that turns `from` into `to` (UTF-8): keep the common prefix and
// suffix, replace the middle. Positions in code points.
ot::Op diff_op(std::string_view from, std::string_view to) {
  std::size_t pre = 0;
  const std::size_t n = std::min(from.size(), to.size());
  while (pre < n && from[pre] == to[pre]) ++pre;
  while (pre > 0 && pre < from.size() &&
         !ot::utf8::is_lead(static_cast<unsigned char>(from[pre]))) {
    --pre;
  }
  std::size_t suf = 0;
  while (suf < n - pre && from[from.size() - 1 - suf] == to[to.size() - 1 - suf]) ++suf;
  while (suf > 0 && !ot::utf8::is_lead(static_cast<unsigned char>(from[from.size() - suf]))) --suf;
  ot::Op op;
  const std::size_t skip = ot::utf8::count(from.substr(0, pre));
  const std::size_t removed = ot::utf8::count(from.substr(pre, from.size() - pre - suf));
  const std::string_view inserted = to.substr(pre, to.size() - pre - suf);
  if (skip > 0 && (removed > 0 || !inserted.empty())) op.push_back(ot::Component::skip(skip));
  if (removed > 0) op.push_back(ot::Component::del(removed));
  if (!inserted.empty()) op.push_back(ot::Component::insert(inserted));
  return op;
}

// Presence values carry positions: a number, an [anchor, head] pair, or an
// object whose numeric position fields move with the text; {index, length}
// moves as a selection.
void transform_presence(nlohmann::json& v, const ot::Op& op) {
  if (v.is_number_integer()) {
    v = ot::transform_position(v.get<std::int64_t>(), op);
    return;
  }
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer()) {
    auto [a, b] = ot::transform_selection({v[0].get<std::int64_t>(), v[1].get<std::int64_t>()}, op);
    v[0] = a;
    v[1] = b;
    return;
  }
  if (!v.is_object()) return;
  if (v.contains("index") && v["index"].is_number_integer() && v.contains("length") &&
      v["length"].is_number_integer()) {
    const std::int64_t i = v["index"].get<std::int64_t>();
    auto [a, b] = ot::transform_selection({i, i + v["length"].get<std::int64_t>()}, op);
    v["index"] = std::min(a, b);
    v["length"] = std::max(a, b) - std::min(a, b);
    return;
  }
  static constexpr const char* kFields[] = {"index", "anchor", "head", "focus",  "start",
                                            "end",   "from",   "to",   "cursor", "position"};
  for (const char* f : kFields) {
    auto it = v.find(f);
    if (it != v.end() && it->is_number_integer()) {
      *it = ot::transform_position(it->get<std::int64_t>(), op);
    }
  }
}

struct OpSize {
  std::uint64_t inserted_cps = 0;
  std::uint64_t inserted_bytes = 0;
  std::uint64_t deleted_cps = 0;
};
OpSize measure(const ot::Op& op) {
  OpSize s;
  for (const auto& c : op) {
    if (c.is_insert()) {
      s.inserted_cps += c.len;
      s.inserted_bytes += c.text.size();
    } else if (c.is_delete()) {
      s.deleted_cps += c.len;
    }
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------
// One open document. Everything below runs on exec_ (one task at a time), so
// the state needs no lock.
class Hub::OpenDoc : public std::enable_shared_from_this<Hub::OpenDoc> {
 public:
  OpenDoc(Hub& hub, Key key, std::string tenant, std::string id)
      : exec(hub.pool_, hub.options_.max_queue),
        hub_(hub),
        key_(std::move(key)),
        tenant_(std::move(tenant)),
        id_(std::move(id)),
        affinity_(std::hash<std::string>{}(key_) | 1u) {}

  SerialExecutor exec;
  bool evicted = false;  // on exec: dropped from the hub; callers re-dispatch

  void fetch(const Principal& p, Callback<Snapshot>& done) {
    if (Status st = load(); !st) return done(st.error());
    if (!in_catalogue_) return done(Snapshot{id_, 0, false, {}, 0});
    if (auto r = read_role(p); !r) return done(r.error());
    done(durable_snapshot());
  }

  void ops(const Principal& p, std::int64_t from, std::int64_t to,
           Callback<std::vector<CommittedOpPtr>>& done) {
    if (Status st = load(); !st) return done(st.error());
    if (in_catalogue_) {
      if (auto r = read_role(p); !r) return done(r.error());
    }
    if (from < 0 || from > durable_version_) {
      return done(Error::invalid("version " + std::to_string(from) +
                                 " is newer than the document (version " +
                                 std::to_string(durable_version_) + ")"));
    }
    if (to < 0 || to > durable_version_) to = durable_version_;
    if (from >= to) return done(std::vector<CommittedOpPtr>{});
    done(collect(from, to));
  }

  void subscribe(const Principal& p, std::optional<std::int64_t> from,
                 const std::shared_ptr<DocListener>& listener, Callback<Subscribed>& done) {
    if (Status st = load(); !st) return done(st.error());
    Role role = Role::kNone;
    if (in_catalogue_) {
      auto r = read_role(p);
      if (!r) return done(r.error());
      role = *r;
    }
    Subscribed out;
    if (from) {
      if (*from < 0 || *from > durable_version_) {
        return done(Error::invalid("version " + std::to_string(*from) +
                                   " is newer than the document (version " +
                                   std::to_string(durable_version_) + ")"));
      }
      auto missed = collect(*from, durable_version_);
      if (!missed) return done(missed.error());
      out.missed = std::move(*missed);
    } else {
      out.snapshot = durable_snapshot();
    }
    const bool fresh = remove_listener(listener.get(), /*announce=*/false) == 0;
    listeners_.push_back({listener, listener.get(), p, role, std::string(listener->client_id())});
    if (fresh) ++hub_.subscriptions_;
    touch();
    done(std::move(out));
    // The newcomer sees where the others are.
    for (auto& pr : presences_) {
      if (pr.listener == listener.get()) continue;
      if (auto value = current_presence(pr)) {
        listener->on_presence(pr.id, *value, durable_version_, pr.src);
      }
    }
  }

  void unsubscribe(const DocListener* listener) {
    if (remove_listener(listener, /*announce=*/true) > 0) --hub_.subscriptions_;
    touch();
  }

  void submit(const Principal& p, Submit& s, Callback<Submitted>& done) {
    if (Status st = load(); !st) return done(st.error());
    touch();
    if (s.kind == CommittedOp::Kind::kDelete) {
      return done(Error::denied(
          "documents are deleted through the documents API (move to trash), not by an op"));
    }
    if (!in_catalogue_) {
      if (s.kind != CommittedOp::Kind::kCreate) {
        return done(Error::not_found("document does not exist"));
      }
      if (head_exists_) return done(Error::exists("document was already created"));
    } else {
      auto r = read_role(p);
      if (!r) return done(r.error());
      if (*r < Role::kEditor) {
        return done(Error::denied("your role on this document (" + std::string(role_name(*r)) +
                                  ") cannot edit it"));
      }
      if (s.kind == CommittedOp::Kind::kCreate) {
        return done(Error::exists("document was already created"));
      }
    }
    if (pending_.size() >= hub_.options_.max_uncommitted) {
      return done(Error::exhausted("the document has too many uncommitted ops; try again", 1));
    }
    if (s.base_version < 0 || s.base_version > head_version_) {
      // kFailedPrecondition, apart from bad ops: ShareDB names this case.
      return done(
          Error{ErrorCode::kFailedPrecondition, "op version " + std::to_string(s.base_version) +
                                                    " is newer than the document (version " +
                                                    std::to_string(head_version_) + ")"});
    }

    auto op = std::make_shared<CommittedOp>();
    op->tenant_id = tenant_;
    op->doc_id = id_;
    op->kind = s.kind;
    op->src = s.src;
    op->seq = s.seq;
    op->author_id = p.user_id;
    op->ts_ms = hub_.clock_.now_ms();

    std::vector<CommittedOpPtr> since;
    if (s.base_version < head_version_) {
      auto r = collect(s.base_version, head_version_);
      if (!r) return done(r.error());
      since = std::move(*r);
    }
    if (!s.src.empty()) {
      for (const auto& c : since) {
        if (c->src == s.src && c->seq == s.seq) {
          return already(c->version, since, done);
        }
      }
    }
    if (s.kind == CommittedOp::Kind::kCreate) {
      if (!since.empty()) return done(Error::exists("document was already created"));
      if (s.create_text.size() > hub_.options_.max_text_bytes) {
        return done(Error{ErrorCode::kPayloadTooLarge,
                          "document is larger than the limit of " +
                              std::to_string(hub_.options_.max_text_bytes) + " bytes"});
      }
      if (!ot::utf8::valid(s.create_text)) return done(Error::invalid("text is not valid UTF-8"));
      op->create_text = std::move(s.create_text);
    } else {
      if (s.op.size() > hub_.options_.max_op_components) {
        return done(Error{
            ErrorCode::kPayloadTooLarge,
            "op has more than " + std::to_string(hub_.options_.max_op_components) + " components"});
      }
      if (Status st = ot::check_op(s.op); !st) return done(Error::invalid(st.error().message));
      ot::Op cur = std::move(s.op);
      ot::Op next;
      for (const auto& c : since) {
        if (c->kind != CommittedOp::Kind::kEdit) {
          return done(Error::invalid("op was made before the document was created or deleted"));
        }
        if (Status st = ot::transform_into(cur, c->op, ot::Side::kLeft, next); !st) {
          return done(Error::invalid(st.error().message));
        }
        std::swap(cur, next);
      }
      op->op = std::move(cur);
    }
    Submitted result;
    result.missed = std::move(since);
    commit(p, op, std::move(result), std::move(done));
  }

  void snapshot_at(const Principal& p, std::int64_t version, Callback<Snapshot>& done) {
    if (Status st = load(); !st) return done(st.error());
    if (!in_catalogue_) return done(doc_not_found());
    if (auto r = read_role(p); !r) return done(r.error());
    if (version < 0) return done(Error::invalid("version must not be negative"));
    done(snapshot_of(version));
  }

  void snapshot_at_time(const Principal& p, std::int64_t ts_ms, Callback<Snapshot>& done) {
    if (Status st = load(); !st) return done(st.error());
    if (!in_catalogue_) return done(doc_not_found());
    if (auto r = read_role(p); !r) return done(r.error());
    std::int64_t version = 0;
    Status st = hub_.db_.read([&](storage::Tx& tx) -> Status {
      auto v = oplog::version_at_time(tx, tenant_, id_, ts_ms);
      if (!v) return v.error();
      version = *v;
      return {};
    });
    if (!st) return done(st.error());
    done(snapshot_of(std::min(version, durable_version_)));
  }

  void restore_version(const Principal& p, std::int64_t version, Callback<Submitted>& done) {
    if (Status st = load(); !st) return done(st.error());
    if (!in_catalogue_) return done(doc_not_found());
    auto role = read_role(p);
    if (!role) return done(role.error());
    if (*role < Role::kEditor) {
      return done(Error::denied("your role on this document (" + std::string(role_name(*role)) +
                                ") cannot edit it"));
    }
    if (version < 1 || version > durable_version_) {
      return done(Error::invalid("version " + std::to_string(version) +
                                 " is not a version of the document (1.." +
                                 std::to_string(durable_version_) + ")"));
    }
    auto target = snapshot_of(version);
    if (!target) return done(target.error());
    if (pending_.size() >= hub_.options_.max_uncommitted) {
      return done(Error::exhausted("the document has too many uncommitted ops; try again", 1));
    }
    auto op = std::make_shared<CommittedOp>();
    op->tenant_id = tenant_;
    op->doc_id = id_;
    op->kind = CommittedOp::Kind::kEdit;
    op->author_id = p.user_id;
    op->ts_ms = hub_.clock_.now_ms();
    op->op = diff_op(head_.to_string(), target->text);
    commit(p, op, Submitted{}, std::move(done));
  }

  void presence(const DocListener* listener, std::string presence_id, const std::string& value,
                std::int64_t version) {
    auto it = std::find_if(listeners_.begin(), listeners_.end(),
                           [&](const Listener& l) { return l.raw == listener; });
    if (it == listeners_.end()) return;  // presence needs a subscription
    auto at = std::find_if(presences_.begin(), presences_.end(), [&](const Presence& pr) {
      return pr.listener == listener && pr.id == presence_id;
    });
    if (value.empty() || value == "null") {
      if (at == presences_.end()) return;
      const std::string src = at->src;
      presences_.erase(at);
      announce(listener, src, presence_id, {});
      return;
    }
    auto parsed = parse_json(value, 16);
    if (!parsed) return;
    Presence pr{listener, std::move(presence_id), std::move(*parsed),
                std::clamp<std::int64_t>(version, 0, durable_version_), it->client_id};
    auto now = current_presence(pr);  // moves pr to the durable version
    if (!now) return;                 // too old to place
    if (at != presences_.end()) {
      *at = pr;
    } else {
      presences_.push_back(pr);
    }
    announce(listener, pr.src, pr.id, *now);
  }

  void access_changed() {
    roles_.clear();
    for (std::size_t i = 0; i < listeners_.size();) {
      auto& l = listeners_[i];
      auto r = hub_.access_.role_of(l.principal, id_);
      if (r && *r != Role::kNone) {
        l.role = *r;
        ++i;
        continue;
      }
      if (!r && r.error().code != ErrorCode::kNotFound) {
        ++i;  // the catalogue could not answer: keep the subscription, ask again later
        continue;
      }
      end_listener(i, Ended{Error::not_found("your access to this document was revoked")});
    }
  }

  // The document went to the trash or was deleted: everyone out.
  void gone() { fail_all(Error::not_found("document was moved to the trash or deleted")); }

  // Eviction check (from the sweep); true if it was dropped.
  void maybe_evict(std::int64_t now_ms) {
    if (evicted || !listeners_.empty() || !pending_.empty()) return;
    if (now_ms - last_active_ms_ < hub_.options_.idle_evict.count()) return;
    write_milestone();
    evicted = true;
    ++hub_.evictions_;
    hub_.forget(key_, this);
  }

  // Shutdown: milestone, listeners ended; `finished` once nothing is in flight.
  void close(std::function<void()> finished) {
    for (std::size_t i = listeners_.size(); i > 0; --i) {
      end_listener(i - 1, Ended{Error::unavailable("the server is shutting down")});
    }
    closed_ = std::move(finished);
    if (pending_.empty()) finish_close();
  }

 private:
  struct Listener {
    std::weak_ptr<DocListener> weak;
    const DocListener* raw = nullptr;
    Principal principal;
    Role role = Role::kNone;
    std::string client_id;
  };
  struct Presence {
    const DocListener* listener = nullptr;
    std::string id;
    nlohmann::json value;
    std::int64_t version = 0;
    std::string src;  // the client id of the connection it came from
  };
  struct Waiter {
    Callback<Submitted> done;
    Submitted result;
  };
  struct Pending {
    CommittedOpPtr op;
    std::vector<Waiter> waiters;
  };
  struct Live {  // a listener during one delivery
    std::shared_ptr<DocListener> listener;
    const std::string* client_id;
    bool submitter;  // its client submitted one of the batch's ops
  };

  void touch() { last_active_ms_ = hub_.clock_.now_ms(); }

  // Loads the document from the database on first use (blocking read on
  // the docs pool). A trashed document is not kept: each request asks again.
  Status load() {
    if (evicted) return Error::unavailable("document is closing; try again");
    if (loaded_) return {};
    std::optional<oplog::DocRow> row;
    Snapshot snap;
    Status st = hub_.db_.read([&](storage::Tx& tx) -> Status {
      auto r = oplog::doc_row(tx, tenant_, id_);
      if (!r) return r.error();
      row = *r;
      if (!row || row->trashed) return {};
      // The log's end, not the row's version: the row lags (oplog::append).
      auto s = oplog::snapshot_at(tx, tenant_, id_, std::numeric_limits<std::int64_t>::max());
      if (!s) return s.error();
      snap = std::move(*s);
      return {};
    });
    if (!st) return st;
    if (row && row->trashed) return doc_not_found();
    if (row && snap.version < row->version) {
      spdlog::error("docs: document {} of tenant {} is at version {} but its log ends at {}", id_,
                    tenant_, row->version, snap.version);
      return Error::internal("document could not be loaded");
    }
    in_catalogue_ = row.has_value();
    head_ = ot::Document(snap.text);
    durable_ = ot::Document(snap.text);
    head_exists_ = durable_exists_ = snap.exists;
    head_version_ = durable_version_ = window_start_ = snap.version;
    durable_ts_ms_ = snap.ts_ms;
    durable_mark_.store(snap.version);
    milestone_version_ = snap.version;  // replaying is cheap until the next interval
    loaded_ = true;
    touch();
    return {};
  }

  // The caller's role for reading; kNotFound when it has none.
  Result<Role> read_role(const Principal& p) {
    auto r = role(p);
    if (!r) return r;
    if (*r == Role::kNone) return doc_not_found();
    return r;
  }

  Result<Role> role(const Principal& p) {
    const std::int64_t now = hub_.clock_.now_ms();
    auto it = roles_.find(p.user_id);
    if (it != roles_.end() && it->second.second > now) return it->second.first;
    auto r = hub_.access_.role_of(p, id_);
    if (!r) {
      if (r.error().code == ErrorCode::kNotFound) return doc_not_found();
      return r;
    }
    if (roles_.size() > 4096) roles_.clear();
    roles_[p.user_id] = {*r, now + hub_.options_.role_ttl_ms};
    return r;
  }

  Snapshot durable_snapshot() const {
    return Snapshot{id_, durable_version_, durable_exists_, durable_.to_string(), durable_ts_ms_};
  }

  Result<Snapshot> snapshot_of(std::int64_t version) {
    if (version >= durable_version_) return durable_snapshot();
    Snapshot snap;
    Status st = hub_.db_.read([&](storage::Tx& tx) -> Status {
      auto s = oplog::snapshot_at(tx, tenant_, id_, version);
      if (!s) return s.error();
      snap = std::move(*s);
      return {};
    });
    if (!st) return st.error();
    return snap;
  }

  // Ops [from, to) with to <= head_version_: from the window, older ones
  // from the log.
  Result<std::vector<CommittedOpPtr>> collect(std::int64_t from, std::int64_t to) {
    std::vector<CommittedOpPtr> out;
    if (from >= to) return out;
    out.reserve(static_cast<std::size_t>(to - from));
    if (from < window_start_) {
      std::vector<CommittedOpPtr> old;
      Status st = hub_.db_.read([&](storage::Tx& tx) -> Status {
        auto r = oplog::ops(tx, tenant_, id_, from, std::min(to, window_start_));
        if (!r) return r.error();
        old = std::move(*r);
        return {};
      });
      if (!st) return st.error();
      if (static_cast<std::int64_t>(old.size()) != std::min(to, window_start_) - from) {
        return Error::internal("document history is incomplete");
      }
      out = std::move(old);
      from = window_start_;
    }
    for (std::int64_t v = from; v < to; ++v) {
      out.push_back(window_[static_cast<std::size_t>(v - window_start_)]);
    }
    return out;
  }

  void already(std::int64_t version, const std::vector<CommittedOpPtr>& since,
               Callback<Submitted>& done) {
    Submitted r;
    r.version = version;
    r.duplicate = true;
    for (const auto& c : since) {
      if (c->version >= version) break;
      r.missed.push_back(c);
    }
    if (version < durable_version_) return done(std::move(r));
    for (auto& p : pending_) {
      if (p.op->version == version) {
        p.waiters.push_back({std::move(done), std::move(r)});
        return;
      }
    }
    done(Error::internal("duplicate op not found"));
  }

  // Applies op at the head, queues its durable commit, and answers `done`
  // once the commit is durable.
  void commit(const Principal& p, const std::shared_ptr<CommittedOp>& op, Submitted result,
              Callback<Submitted> done) {
    op->version = head_version_;
    // Times never go back along the versions (a clock step back keeps the
    // last time), so the version at a time is a binary search on versions.
    op->ts_ms = std::max(op->ts_ms, std::max(head_ts_ms_, durable_ts_ms_));
    std::int64_t size_after = 0;
    if (op->kind == CommittedOp::Kind::kCreate) {
      size_after = static_cast<std::int64_t>(ot::utf8::count(op->create_text));
    } else {
      if (ot::base_length(op->op) > head_.length()) {
        return done(Error::invalid("The op is too long for this document"));
      }
      const OpSize sz = measure(op->op);
      if (sz.inserted_bytes > hub_.options_.max_op_bytes) {
        return done(
            Error{ErrorCode::kPayloadTooLarge,
                  "op inserts more than " + std::to_string(hub_.options_.max_op_bytes) + " bytes"});
      }
      if (head_.byte_size() + sz.inserted_bytes > hub_.options_.max_text_bytes) {
        return done(Error{ErrorCode::kPayloadTooLarge,
                          "the document would be larger than the limit of " +
                              std::to_string(hub_.options_.max_text_bytes) + " bytes"});
      }
      size_after = static_cast<std::int64_t>(head_.length() + sz.inserted_cps - sz.deleted_cps);
    }
    CommittedOpPtr shared = op;
    const bool create = op->kind == CommittedOp::Kind::kCreate && !in_catalogue_;
    // A create writes its row; later ops move it through Hub::note_catalogue.
    const bool update_catalogue = op->kind == CommittedOp::Kind::kCreate;
    AccessResolver& access = hub_.access_;
    auto self = shared_from_this();
    const std::int64_t version = op->version;
    bool accepted = hub_.db_.write_async(
        [shared, size_after, create, update_catalogue, p, &access](storage::Tx& tx) -> Status {
          if (create) {
            if (Status st = access.insert_for_create(tx, p, shared->doc_id, shared->ts_ms); !st) {
              return st;
            }
          }
          return oplog::append(tx, *shared, size_after, update_catalogue);
        },
        [self, version](Status st) {
          // The committer calls these in version order. Each success moves the
          // mark, and one flush on the document's executor takes everything
          // up to it: the ops of one group commit go out together.
          if (st && !self->commit_broken_.load()) {
            if (self->durable_mark_.load() == version) {
              self->durable_mark_.store(version + 1);
              if (!self->flush_posted_.exchange(true)) {
                self->exec.post_continuation([self] { self->flush_durable(); });
              }
              return;
            }
            // A retried commit overtook an earlier one: that one is not durable.
            st = Error::internal("commits of the document completed out of order");
          }
          self->commit_broken_.store(true);  // no later commit counts as durable
          self->exec.post_continuation(
              [self, version, st = std::move(st)]() mutable { self->commit_failed(version, st); });
        },
        affinity_);
    if (!accepted) {
      return done(Error::exhausted("the database is busy; try again", 1));
    }
    if (op->kind == CommittedOp::Kind::kCreate) {
      head_ = ot::Document(op->create_text);
      head_exists_ = true;
    } else if (Status st = head_.apply(op->op); !st) {
      // check_op and the length check passed, so this is a broken invariant.
      spdlog::error("docs: op did not apply to document {} at version {}: {}", id_, version,
                    st.error().message);
      pending_.push_back({shared, {{std::move(done), std::move(result)}}});
      window_.push_back(shared);
      ++head_version_;
      fail_all(Error::internal("document state is inconsistent; reconnect"));
      return;
    }
    ++head_version_;
    head_ts_ms_ = op->ts_ms;
    window_.push_back(shared);
    result.version = version;
    pending_.push_back({shared, {{std::move(done), std::move(result)}}});
  }

  // A commit failed: what was durable before it goes out, then everything
  // ends (the clients reconnect and resubmit).
  void commit_failed(std::int64_t version, const Status& st) {
    flush_durable();
    if (evicted) return;
    spdlog::error("docs: commit of document {} version {} failed: {}", id_, version,
                  st ? std::string("a commit before it failed") : st.error().message);
    fail_all(!st && st.error().code == ErrorCode::kNotFound
                 ? doc_not_found()
                 : Error::unavailable("the document's commit failed; reconnect and resubmit"));
  }

  // Commits are durable up to durable_mark_: acknowledge and broadcast them,
  // as batches (a create ends its batch: who may see the document is checked
  // after it).
  void flush_durable() {
    flush_posted_.store(false);
    const std::int64_t mark = durable_mark_.load();
    while (!evicted && !pending_.empty() && pending_.front().op->version < mark) {
      if (pending_.front().op->version != durable_version_) {
        spdlog::error("docs: commit of document {} version {} arrived out of order", id_,
                      pending_.front().op->version);
        fail_all(Error::internal("document state is inconsistent; reconnect"));
        return;
      }
      batch_.clear();
      while (!pending_.empty() && pending_.front().op->version < mark) {
        batch_.push_back(std::move(pending_.front()));
        pending_.pop_front();
        if (batch_.back().op->kind == CommittedOp::Kind::kCreate) break;
      }
      deliver_batch();
    }
    if (!evicted && closed_ && pending_.empty()) finish_close();
  }

  // batch_ is durable: move the durable text, acknowledge, broadcast.
  void deliver_batch() {
    for (auto& p : batch_) {
      const CommittedOp& op = *p.op;
      Status a;
      if (op.kind == CommittedOp::Kind::kCreate) {
        durable_ = ot::Document(op.create_text);
        durable_exists_ = true;
      } else {
        a = durable_.apply(op.op);
      }
      if (!a) {
        const Error e = Error::internal("document state is inconsistent; reconnect");
        for (auto& b : batch_) {
          for (auto& w : b.waiters) w.done(e);
        }
        batch_.clear();
        fail_all(e);
        return;
      }
    }
    const CommittedOp& last = *batch_.back().op;
    durable_version_ = last.version + 1;
    durable_ts_ms_ = last.ts_ms;
    hub_.ops_committed_ += batch_.size();
    if (in_catalogue_) {  // (a create's commit wrote its row)
      hub_.note_catalogue(key_, tenant_, id_, durable_version_,
                          static_cast<std::int64_t>(durable_.length()), durable_ts_ms_);
    }

    live_.clear();
    for (std::size_t i = 0; i < listeners_.size();) {
      auto l = listeners_[i].weak.lock();
      if (!l) {
        drop_listener(i);
        continue;
      }
      live_.push_back({std::move(l), &listeners_[i].client_id, false});
      ++i;
    }
    // A client that submitted one of these ops must see its acknowledgement
    // after the ops before it and before the ops after it: it gets them one
    // at a time around its acks. Everyone else gets them in one call.
    ops_.clear();
    for (auto& p : batch_) ops_.push_back(p.op);
    for (auto& l : live_) {
      if (l.client_id->empty()) continue;
      for (const auto& op : ops_) {
        if (op->src == *l.client_id) {
          l.submitter = true;
          break;
        }
      }
    }
    for (auto& p : batch_) {
      for (auto& l : live_) {
        if (l.submitter && (*l.client_id != p.op->src || p.op->src.empty())) {
          l.listener->on_op(p.op);
        }
      }
      for (auto& w : p.waiters) w.done(std::move(w.result));
    }
    for (auto& l : live_) {
      if (!l.submitter) l.listener->on_ops(ops_);
    }
    ops_.clear();
    live_.clear();
    const bool created = last.kind == CommittedOp::Kind::kCreate && !in_catalogue_;
    batch_.clear();
    if (created) {
      in_catalogue_ = true;
      access_changed();  // subscribers of the new id who have no role on it go
    }
    if (durable_version_ - milestone_version_ >= hub_.options_.milestone_every) write_milestone();
    while (window_.size() > hub_.options_.recent_ops && window_start_ < durable_version_) {
      window_.pop_front();
      ++window_start_;
    }
  }

  void write_milestone() {
    if (!loaded_ || !durable_exists_ || durable_version_ <= milestone_version_) return;
    milestone_version_ = durable_version_;
    auto text = std::make_shared<const std::string>(durable_.to_string());
    const std::int64_t version = durable_version_;
    const std::int64_t ts = durable_ts_ms_;
    const auto size = static_cast<std::int64_t>(durable_.length());
    std::string tenant = tenant_;
    std::string id = id_;
    bool accepted = hub_.db_.write_async(
        [text, version, ts, size, tenant, id](storage::Tx& tx) -> Status {
          if (Status st = oplog::update_row(tx, tenant, id, version, size, ts); !st) return st;
          return oplog::save_milestone(tx, tenant, id, version, *text, ts);
        },
        [id, version](const Status& st) {
          if (!st && st.error().code != ErrorCode::kNotFound) {
            spdlog::warn("docs: milestone of document {} at version {} not written: {}", id,
                         version, st.error().message);
          }
        },
        affinity_);
    if (!accepted) milestone_version_ = version - hub_.options_.milestone_every / 2;  // retry soon
  }

  void finish_close() {
    write_milestone();
    if (auto f = std::exchange(closed_, nullptr)) f();
  }

  // Ends everything: waiting submitters get `e`, subscribers end with it,
  // and the document is dropped (the next request reloads it).
  void fail_all(const Error& e) {
    evicted = true;
    hub_.forget(key_, this);
    for (auto& p : pending_) {
      for (auto& w : p.waiters) w.done(e);
    }
    pending_.clear();
    for (std::size_t i = listeners_.size(); i > 0; --i) end_listener(i - 1, Ended{e});
    presences_.clear();
    if (auto f = std::exchange(closed_, nullptr)) f();
  }

  void end_listener(std::size_t i, const Ended& why) {
    auto l = listeners_[i].weak.lock();
    drop_listener(i);
    if (l) l->on_ended(why);
  }

  void drop_listener(std::size_t i) {
    const DocListener* raw = listeners_[i].raw;
    listeners_.erase(listeners_.begin() + static_cast<std::ptrdiff_t>(i));
    --hub_.subscriptions_;
    remove_presences(raw, /*announce_removal=*/true);
  }

  // Removes a listener (and its presence); the number removed.
  std::size_t remove_listener(const DocListener* raw, bool announce) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < listeners_.size();) {
      if (listeners_[i].raw == raw) {
        listeners_.erase(listeners_.begin() + static_cast<std::ptrdiff_t>(i));
        ++n;
      } else {
        ++i;
      }
    }
    remove_presences(raw, announce);
    return n;
  }

  void remove_presences(const DocListener* raw, bool announce_removal) {
    for (std::size_t i = 0; i < presences_.size();) {
      if (presences_[i].listener != raw) {
        ++i;
        continue;
      }
      std::string id = std::move(presences_[i].id);
      std::string src = std::move(presences_[i].src);
      presences_.erase(presences_.begin() + static_cast<std::ptrdiff_t>(i));
      if (announce_removal) announce(raw, src, id, {});
    }
  }

  // A presence value moved to the durable version (nullopt: too old).
  std::optional<std::string> current_presence(Presence& pr) {
    if (pr.version < durable_version_) {
      if (pr.version < window_start_) return std::nullopt;
      for (std::int64_t v = pr.version; v < durable_version_; ++v) {
        const auto& op = window_[static_cast<std::size_t>(v - window_start_)];
        if (op->kind == CommittedOp::Kind::kEdit) transform_presence(pr.value, op->op);
      }
      pr.version = durable_version_;
    }
    return pr.value.dump();
  }

  void announce(const DocListener* from, std::string_view src, std::string_view id,
                std::string_view value) {
    for (auto& l : listeners_) {
      if (l.raw == from) continue;
      if (auto s = l.weak.lock()) s->on_presence(id, value, durable_version_, src);
    }
  }

  Hub& hub_;
  const Key key_;
  const std::string tenant_;
  const std::string id_;
  const std::uint64_t affinity_;

  bool loaded_ = false;
  bool in_catalogue_ = false;  // durable: the documents row exists
  ot::Document head_;          // every op applied (pending ones too)
  std::int64_t head_version_ = 0;
  bool head_exists_ = false;
  ot::Document durable_;  // ops whose commit is durable
  std::int64_t durable_version_ = 0;
  std::int64_t durable_ts_ms_ = 0;
  std::int64_t head_ts_ms_ = 0;  // of the last op applied at the head
  bool durable_exists_ = false;
  std::deque<CommittedOpPtr> window_;  // versions [window_start_, head_version_)
  std::int64_t window_start_ = 0;
  std::deque<Pending> pending_;  // versions [durable_version_, head_version_)
  // Set by the committer's completions, read by flush_durable:
  std::atomic<std::int64_t> durable_mark_{0};  // commits below this version are durable
  std::atomic<bool> flush_posted_{false};      // a flush_durable is queued
  std::atomic<bool> commit_broken_{false};     // a commit failed: nothing later counts
  // flush_durable's scratch (kept for their capacity):
  std::vector<Pending> batch_;
  std::vector<CommittedOpPtr> ops_;
  std::vector<Live> live_;
  std::int64_t milestone_version_ = 0;
  std::int64_t last_active_ms_ = 0;
  std::vector<Listener> listeners_;
  std::vector<Presence> presences_;
  std::unordered_map<std::string, std::pair<Role, std::int64_t>> roles_;  // user -> role, until
  std::function<void()> closed_;
};

// ---------------------------------------------------------------------------

Hub::Hub(storage::Database& db, AccessResolver& access, ThreadPool& pool, const Clock& clock,
         Scheduler& scheduler, HubOptions options)
    : db_(db),
      access_(access),
      pool_(pool),
      clock_(clock),
      scheduler_(scheduler),
      options_(options) {
  const auto period = std::max(std::chrono::milliseconds(1000), options_.idle_evict / 4);
  sweep_timer_ = scheduler_.every(period, [this] { sweep(); });
  catalogue_timer_ = scheduler_.every(kCatalogueEvery, [this] { flush_catalogue(); });
}

void Hub::note_catalogue(const Key& key, const std::string& tenant, const std::string& id,
                         std::int64_t version, std::int64_t size, std::int64_t ts_ms) {
  std::lock_guard lock(catalogue_mu_);
  auto [it, fresh] = catalogue_.try_emplace(key);
  if (fresh) {
    it->second.tenant = tenant;
    it->second.id = id;
  }
  it->second.version = version;
  it->second.size = size;
  it->second.ts_ms = ts_ms;
}

void Hub::flush_catalogue() {
  std::unordered_map<Key, CatalogueRow> rows;
  {
    std::lock_guard lock(catalogue_mu_);
    rows.swap(catalogue_);
  }
  if (rows.empty()) return;
  auto shared = std::make_shared<std::unordered_map<Key, CatalogueRow>>(std::move(rows));
  const std::size_t n = shared->size();
  // update_row never moves a row back, so this may land after a milestone's.
  bool accepted = db_.write_async(
      [shared](storage::Tx& tx) -> Status {
        for (const auto& [key, r] : *shared) {
          if (Status st = oplog::update_row(tx, r.tenant, r.id, r.version, r.size, r.ts_ms); !st) {
            return st;
          }
        }
        return {};
      },
      [n](const Status& st) {
        if (!st) spdlog::warn("docs: {} catalogue rows not updated: {}", n, st.error().message);
      });
  if (!accepted) {  // the database is busy: next time, unless a newer row came meanwhile
    std::lock_guard lock(catalogue_mu_);
    for (auto& [key, r] : *shared) catalogue_.try_emplace(key, std::move(r));
  }
}

Hub::~Hub() { shutdown(std::chrono::milliseconds(0)); }

Hub::Key Hub::key_of(std::string_view tenant, std::string_view doc) {
  Key k;
  k.reserve(tenant.size() + doc.size() + 1);
  k.append(tenant).push_back('\n');
  k.append(doc);
  return k;
}

std::shared_ptr<Hub::OpenDoc> Hub::open(std::string_view tenant, std::string_view doc,
                                        bool create) {
  Key key = key_of(tenant, doc);
  std::lock_guard lock(mu_);
  if (shut_down_) return nullptr;
  auto it = docs_.find(key);
  if (it != docs_.end()) return it->second;
  if (!create) return nullptr;
  auto d = std::make_shared<OpenDoc>(*this, key, std::string(tenant), std::string(doc));
  docs_.emplace(std::move(key), d);
  return d;
}

void Hub::forget(const Key& key, const OpenDoc* doc) {
  std::lock_guard lock(mu_);
  auto it = docs_.find(key);
  if (it != docs_.end() && it->second.get() == doc) docs_.erase(it);
}

template <class T, class F>
void Hub::dispatch(std::string_view tenant, std::string_view doc, Callback<T>& done, F&& fn) {
  auto cb = std::make_shared<Callback<T>>(std::move(done));
  auto d = open(tenant, doc, true);
  if (!d) return fail_later<T>(pool_, cb, Error::unavailable("the server is shutting down"));
  auto task = [this, d, cb, fn = std::forward<F>(fn), tenant = std::string(tenant),
               doc = std::string(doc)]() mutable {
    if (d->evicted) {
      Callback<T> again = std::move(*cb);
      dispatch<T>(tenant, doc, again, std::move(fn));
      return;
    }
    fn(*d, *cb);
  };
  if (!d->exec.try_post(Task(std::move(task)))) {
    fail_later<T>(pool_, cb, Error::exhausted("the document is busy; try again", 1));
  }
}

namespace {
bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~';
    if (!ok) return false;
  }
  return true;
}
template <class T>
bool check_id(ThreadPool& pool, std::string_view id, SyncService::Callback<T>& done) {
  if (valid_id(id)) return true;
  fail_later<T>(pool, std::make_shared<SyncService::Callback<T>>(std::move(done)),
                Error::invalid("document id must be 1-128 characters of A-Z a-z 0-9 - _ . ~"));
  return false;
}
}  // namespace

void Hub::fetch(const Principal& p, std::string_view doc_id, Callback<Snapshot> done) {
  if (!check_id(pool_, doc_id, done)) return;
  dispatch(p.tenant_id, doc_id, done, [p](OpenDoc& d, Callback<Snapshot>& cb) { d.fetch(p, cb); });
}

void Hub::ops(const Principal& p, std::string_view doc_id, std::int64_t from, std::int64_t to,
              Callback<std::vector<CommittedOpPtr>> done) {
  if (!check_id(pool_, doc_id, done)) return;
  dispatch(p.tenant_id, doc_id, done,
           [p, from, to](OpenDoc& d, Callback<std::vector<CommittedOpPtr>>& cb) {
             d.ops(p, from, to, cb);
           });
}

void Hub::subscribe(const Principal& p, std::string_view doc_id,
                    std::optional<std::int64_t> from_version,
                    const std::shared_ptr<DocListener>& listener, Callback<Subscribed> done) {
  if (!check_id(pool_, doc_id, done)) return;
  dispatch(p.tenant_id, doc_id, done,
           [p, from_version, listener](OpenDoc& d, Callback<Subscribed>& cb) {
             d.subscribe(p, from_version, listener, cb);
           });
}

void Hub::unsubscribe(std::string_view tenant_id, std::string_view doc_id,
                      const DocListener* listener) {
  auto d = open(tenant_id, doc_id, false);
  if (!d) return;
  // Not dropped when the queue is full: a subscription must not outlive its
  // connection (the queue bound still holds for everything else).
  (void)d->exec.post_continuation([d, listener] {
    if (!d->evicted) d->unsubscribe(listener);
  });
}

void Hub::submit(const Principal& p, Submit s, Callback<Submitted> done) {
  if (!check_id(pool_, s.doc_id, done)) return;
  const std::string doc = s.doc_id;
  dispatch(
      p.tenant_id, doc, done,
      [p, s = std::move(s)](OpenDoc& d, Callback<Submitted>& cb) mutable { d.submit(p, s, cb); });
}

void Hub::snapshot_at(const Principal& p, std::string_view doc_id, std::int64_t version,
                      Callback<Snapshot> done) {
  if (!check_id(pool_, doc_id, done)) return;
  dispatch(p.tenant_id, doc_id, done,
           [p, version](OpenDoc& d, Callback<Snapshot>& cb) { d.snapshot_at(p, version, cb); });
}

void Hub::snapshot_at_time(const Principal& p, std::string_view doc_id, std::int64_t ts_ms,
                           Callback<Snapshot> done) {
  if (!check_id(pool_, doc_id, done)) return;
  dispatch(p.tenant_id, doc_id, done,
           [p, ts_ms](OpenDoc& d, Callback<Snapshot>& cb) { d.snapshot_at_time(p, ts_ms, cb); });
}

void Hub::restore_version(const Principal& p, std::string_view doc_id, std::int64_t version,
                          Callback<Submitted> done) {
  if (!check_id(pool_, doc_id, done)) return;
  dispatch(p.tenant_id, doc_id, done, [p, version](OpenDoc& d, Callback<Submitted>& cb) {
    d.restore_version(p, version, cb);
  });
}

void Hub::presence(const Principal& p, std::string_view doc_id, const DocListener* listener,
                   std::string_view presence_id, std::string_view value_json,
                   std::int64_t version) {
  if (value_json.size() > options_.max_presence_bytes || presence_id.size() > 128) return;
  auto d = open(p.tenant_id, doc_id, false);
  if (!d) return;  // presence needs a subscription, which keeps the document open
  // Presence is best effort: dropped when the document is busy.
  (void)d->exec.try_post([d, listener, id = std::string(presence_id),
                          value = std::string(value_json), version]() mutable {
    if (!d->evicted) d->presence(listener, std::move(id), value, version);
  });
}

void Hub::access_changed(std::string_view tenant_id, std::string_view doc_id) {
  auto d = open(tenant_id, doc_id, false);
  if (!d) return;
  (void)d->exec.post_continuation([d] {
    if (!d->evicted) d->access_changed();
  });
}

void Hub::document_gone(std::string_view tenant_id, std::string_view doc_id) {
  auto d = open(tenant_id, doc_id, false);
  if (!d) return;
  (void)d->exec.post_continuation([d] {
    if (!d->evicted) d->gone();
  });
}

void Hub::sweep() {
  std::vector<std::shared_ptr<OpenDoc>> docs;
  {
    std::lock_guard lock(mu_);
    docs.reserve(docs_.size());
    for (auto& [k, d] : docs_) docs.push_back(d);
  }
  const std::int64_t now = clock_.now_ms();
  for (auto& d : docs) {
    (void)d->exec.try_post([d, now] { d->maybe_evict(now); });
  }
}

void Hub::shutdown(std::chrono::milliseconds wait) {
  std::vector<std::shared_ptr<OpenDoc>> docs;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto& [k, d] : docs_) docs.push_back(d);
  }
  scheduler_.cancel(sweep_timer_);
  scheduler_.cancel(catalogue_timer_);
  struct Latch {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t left = 0;
  };
  auto latch = std::make_shared<Latch>();
  latch->left = docs.size();
  for (auto& d : docs) {
    auto finished = [latch] {
      std::lock_guard lock(latch->mu);
      if (--latch->left == 0) latch->cv.notify_all();
    };
    if (!d->exec.post_continuation([d, finished] {
          if (d->evicted) return finished();
          d->close(finished);
        })) {
      finished();
    }
  }
  std::unique_lock lock(latch->mu);
  if (!latch->cv.wait_for(lock, wait, [&] { return latch->left == 0; }) && !docs.empty()) {
    spdlog::warn("docs: {} documents still had commits in flight at shutdown", latch->left);
  }
  lock.unlock();
  flush_catalogue();  // the milestones moved most rows; these are the rest
}

Hub::Stats Hub::stats() const {
  Stats s;
  {
    std::lock_guard lock(mu_);
    s.open_documents = docs_.size();
  }
  s.subscriptions = subscriptions_.load();
  s.ops_committed = ops_committed_.load();
  s.evictions = evictions_.load();
  return s;
}

}  // namespace office::docs
