#include "docs/sharedb_adapter.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "core/hex.hpp"
#include "core/json_body.hpp"
#include "core/random.hpp"
#include "core/sha256.hpp"
#include "docs/adapter_util.hpp"
#include "docs/sharedb_protocol.hpp"

namespace office::docs {

namespace sdb = sharedb;
using sdb::Action;
using sdb::Request;

namespace {

// HMAC-SHA-256 (RFC 2104) over the one SHA-256 helper of the code base.
std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view msg) {
  std::string k(key);
  if (k.size() > 64) {
    auto h = sha256(k);
    k.assign(reinterpret_cast<const char*>(h.data()), h.size());
  }
  k.resize(64, '\0');
  std::string inner(64, '\0');
  std::string outer(64, '\0');
  for (std::size_t i = 0; i < 64; ++i) {
    inner[i] = static_cast<char>(k[i] ^ 0x36);
    outer[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  inner.append(msg);
  auto ih = sha256(inner);
  outer.append(reinterpret_cast<const char*>(ih.data()), ih.size());
  return sha256(outer);
}

constexpr std::size_t kIdRandomBytes = 12;
constexpr std::size_t kIdMacBytes = 12;

}  // namespace

class SharedbContext {
 public:
  explicit SharedbContext(SharedbOptions o) : options_(std::move(o)) {
    if (options_.client_id_key.empty()) {
      options_.client_id_key.resize(32);
      secure_random(options_.client_id_key.data(), options_.client_id_key.size());
    }
  }

  const SharedbLimits& limits() const { return options_.limits; }
  std::chrono::steady_clock::time_point now() const {
    return options_.now ? options_.now() : std::chrono::steady_clock::now();
  }

  /// A fresh client id bound to the caller: <24 hex random>.<24 hex MAC>.
  std::string issue_client_id(const Principal& p) const {
    std::array<std::uint8_t, kIdRandomBytes> r{};
    secure_random(r.data(), r.size());
    std::string id = to_hex(r);
    return id + "." + mac_of(p, id);
  }
  /// True if `id` was issued (by a server sharing the key) to p's user.
  bool owns_client_id(const Principal& p, std::string_view id) const {
    auto dot = id.find('.');
    if (dot != kIdRandomBytes * 2 || id.size() != dot + 1 + kIdMacBytes * 2) return false;
    std::string expected = mac_of(p, id.substr(0, dot));
    std::string_view got = id.substr(dot + 1);
    unsigned char diff = 0;  // constant time
    for (std::size_t i = 0; i < expected.size(); ++i)
      diff |= static_cast<unsigned char>(expected[i] ^ got[i]);
    return diff == 0;
  }

  /// The op message every subscriber gets, serialised once per op and shared
  /// (the document's owner calls on_op for each subscriber in turn, so a
  /// small cache keyed by the op object catches the whole fan-out).
  net::SharedMessage op_message(const CommittedOpPtr& op) const {
    // The fan-out runs on the document's thread: the last op that thread
    // serialised is the one asked for again, with no lock. (The cached op is
    // held, so its address cannot be reused by another op meanwhile.)
    struct Last {
      const SharedbContext* ctx = nullptr;
      CommittedOpPtr op;
      net::SharedMessage message;
    };
    thread_local Last last;
    if (last.op == op && last.ctx == this) return last.message;
    auto& slot = slots_[(reinterpret_cast<std::uintptr_t>(op.get()) >> 4) % slots_.size()];
    std::lock_guard lock(slot.mu);
    if (auto held = slot.op.lock(); !held || held.get() != op.get()) {
      slot.op = op;
      slot.message = net::SharedMessage(sdb::op_message(*op));
    }
    last.ctx = this;
    last.op = op;
    last.message = slot.message;
    return slot.message;
  }

  /// Ops made durable together, as one batch of frames every subscriber
  /// shares (the fan-out asks for the same span once per subscriber).
  net::SharedMessage ops_message(std::span<const CommittedOpPtr> ops) const {
    struct Last {
      const SharedbContext* ctx = nullptr;
      const CommittedOpPtr* data = nullptr;
      std::size_t size = 0;
      CommittedOpPtr first, back;  // held, so their addresses are not reused meanwhile
      net::SharedMessage message;
    };
    thread_local Last last;
    if (last.ctx == this && last.data == ops.data() && last.size == ops.size() &&
        last.first == ops.front() && last.back == ops.back()) {
      return last.message;
    }
    std::vector<std::string> texts;
    texts.reserve(ops.size());
    for (const auto& op : ops) texts.push_back(sdb::op_message(*op));
    std::vector<std::string_view> views(texts.begin(), texts.end());
    last.ctx = this;
    last.data = ops.data();
    last.size = ops.size();
    last.first = ops.front();
    last.back = ops.back();
    last.message = net::SharedMessage::frames(views);
    return last.message;
  }

 private:
  std::string mac_of(const Principal& p, std::string_view random_part) const {
    std::string msg = p.tenant_id;
    msg += '\n';
    msg += p.user_id;
    msg += '\n';
    msg += random_part;
    auto mac = hmac_sha256(options_.client_id_key, msg);
    return to_hex(std::span<const std::uint8_t>(mac.data(), kIdMacBytes));
  }

  struct Slot {
    std::mutex mu;
    std::weak_ptr<const CommittedOp> op;
    net::SharedMessage message;
  };
  SharedbOptions options_;
  mutable std::array<Slot, 64> slots_;
};

namespace {

class Conn;

// One subscription of a connection to a document: its ops (kOps, the
// client's `s`) or its presence (kPresence, the client's `ps`).
class Listener final : public DocListener {
 public:
  enum class Kind { kOps, kPresence };
  Listener(std::weak_ptr<Conn> conn, std::string doc_id, Kind kind, std::string src)
      : conn_(std::move(conn)), doc_id_(std::move(doc_id)), kind_(kind), src_(std::move(src)) {}
  void on_op(const CommittedOpPtr& op) override;
  void on_ops(std::span<const CommittedOpPtr> ops) override;
  void on_presence(std::string_view presence_id, std::string_view value_json, std::int64_t version,
                   std::string_view src) override;
  void on_ended(const Ended& why) override;
  std::string_view client_id() const override { return src_; }
  const std::string& doc_id() const { return doc_id_; }
  Kind kind() const { return kind_; }

  // An ops listener is current while it is its connection's subscription of
  // the document (set and cleared under the connection's lock). Ops go
  // straight to the session then, without the connection's lock or map: the
  // document's thread calls this for every subscriber of every op.
  void activate(std::shared_ptr<net::WebSocketSession> s) {
    session_ = std::move(s);
    current_.store(session_ != nullptr, std::memory_order_release);
  }
  void retire() { current_.store(false, std::memory_order_release); }
  net::WebSocketSession* current_session() const {
    return current_.load(std::memory_order_acquire) ? session_.get() : nullptr;
  }

 private:
  std::weak_ptr<Conn> conn_;
  std::shared_ptr<net::WebSocketSession> session_;  // written before current_ is set
  std::atomic<bool> current_{false};
  const std::string doc_id_;
  const Kind kind_;
  const std::string src_;
};

class Conn final : public std::enable_shared_from_this<Conn> {
 public:
  Conn(std::shared_ptr<const SharedbContext> ctx, SyncService& sync, Principal p,
       const SharedbSessionHooks& hooks)
      : ctx_(std::move(ctx)),
        sync_(sync),
        principal_(std::move(p)),
        hooks_(hooks),
        src_(ctx_->issue_client_id(principal_)),
        ops_(ctx_->limits().op_burst, ctx_->now()) {}

  void watch() {
    if (!hooks_.watch) return;
    std::weak_ptr<Conn> weak = weak_from_this();
    auto lease = hooks_.watch(principal_, [weak](identity::SessionEnd why) {
      if (auto c = weak.lock()) c->end_session(why);
    });
    std::lock_guard lock(mu_);
    lease_ = std::move(lease);
  }

  void open(const std::shared_ptr<net::WebSocketSession>& s) {
    std::optional<identity::SessionEnd> ended;
    {
      std::lock_guard lock(mu_);
      session_ = s;
      ended = ended_;
    }
    if (ended) close_for(*s, *ended);
  }

  void closed() {
    std::map<std::string, std::shared_ptr<Listener>> docs;
    std::map<std::string, std::shared_ptr<Listener>> presence;
    std::unique_ptr<identity::SessionWatch::Lease> lease;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      for (auto& [id, l] : docs_) l->retire();
      docs.swap(docs_);
      presence.swap(presence_);
      lease = std::move(lease_);
      session_.reset();
    }
    for (auto& [id, l] : docs) sync_.unsubscribe(principal_.tenant_id, id, l.get());
    for (auto& [id, l] : presence) sync_.unsubscribe(principal_.tenant_id, id, l.get());
  }

  void end_session(identity::SessionEnd why) {
    std::shared_ptr<net::WebSocketSession> s;
    {
      std::lock_guard lock(mu_);
      ended_ = why;
      s = session_;
    }
    if (s) close_for(*s, why);
  }

  void message(std::string_view text) {
    sdb::Parsed parsed = sdb::parse_request(text);
    Request& r = parsed.request;
    if (parsed.error) return reply_error(r, parsed.error->code, parsed.error->message);
    if (text.size() > ctx_->limits().max_message_bytes)
      return reply_error(r, sdb::code::kBadMessage,
                         "message of " + std::to_string(text.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(ctx_->limits().max_message_bytes));
    if (r.c && *r.c != sdb::kCollection)
      return reply_error(r, sdb::code::kBadMessage,
                         "Invalid collection: documents live in \"docs\"");
    switch (r.action) {
      case Action::kHandshake:
        return handshake(r);
      case Action::kFetch:
        return fetch(r, *r.d, r.v);
      case Action::kSubscribe:
        return subscribe(r, *r.d, r.v);
      case Action::kUnsubscribe:
        return unsubscribe(*r.d);
      case Action::kBulkFetch:
      case Action::kBulkSubscribe:
      case Action::kBulkUnsubscribe:
        return bulk(r);
      case Action::kOp:
        return submit(r);
      case Action::kSnapshotFetch:
      case Action::kSnapshotFetchTime:
        return snapshot(r);
      case Action::kPresence:
        return presence(r);
      case Action::kPresenceSubscribe:
        return presence_subscribe(r);
      case Action::kPresenceUnsubscribe:
        return presence_unsubscribe(r);
      case Action::kPresenceRequest:
        // Others' presence arrives when they change it; there is no way to
        // ask them to re-send (docs/protocol.md).
        return send(sdb::bare_reply(Action::kPresenceRequest));
      case Action::kPing:
        return send(sdb::bare_reply(Action::kPing));
      case Action::kQueryFetch:
      case Action::kQuerySubscribe:
        return reply_error(r, sdb::code::kNotImplemented,
                           "queries are not supported: fetch or subscribe to documents by id "
                           "(GET /api/v1/docs lists them)");
      case Action::kQueryUnsubscribe: {
        std::string out = "{\"a\":\"qu\",\"id\":" + std::to_string(*r.request_id) + "}";
        return send(std::move(out));
      }
      case Action::kAuth:
        return auth(r);
      case Action::kUnknown:
        break;
    }
    reply_error(r, sdb::code::kBadMessage, "Invalid or unknown message");
  }

  // --- from listeners (a document's owner thread) ---------------------------

  void deliver_op(const Listener* l, const CommittedOpPtr& op) {
    if (auto* s = l->current_session()) s->send_shared(ctx_->op_message(op));
  }
  void deliver_ops(const Listener* l, std::span<const CommittedOpPtr> ops) {
    if (ops.empty()) return;
    auto* s = l->current_session();
    if (!s) return;
    s->send_shared(ops.size() == 1 ? ctx_->op_message(ops.front()) : ctx_->ops_message(ops));
  }
  void deliver_presence(const Listener* l, std::string_view presence_id,
                        std::string_view value_json, std::int64_t version, std::string_view src) {
    std::shared_ptr<net::WebSocketSession> s;
    std::int64_t pv = 0;
    {
      std::lock_guard lock(mu_);
      auto it = presence_.find(l->doc_id());
      if (closed_ || it == presence_.end() || it->second.get() != l) return;
      s = session_;
      pv = ++presence_version_;
    }
    if (s)
      s->send_text(sdb::presence_message(l->doc_id(), presence_id, value_json, pv, version, src));
  }
  void ended(const Listener* l, const Ended& why) {
    std::shared_ptr<net::WebSocketSession> s;
    std::shared_ptr<Listener> keep;  // released outside the lock
    {
      std::lock_guard lock(mu_);
      auto& map = l->kind() == Listener::Kind::kOps ? docs_ : presence_;
      auto it = map.find(l->doc_id());
      if (closed_ || it == map.end() || it->second.get() != l) return;
      keep = std::move(it->second);
      keep->retire();
      map.erase(it);
      s = session_;
    }
    if (!s) return;
    if (transient(why.error)) {
      s->close(net::CloseCode::kTryAgainLater, "document unavailable; reconnect");
      return;
    }
    if (l->kind() != Listener::Kind::kOps) return;
    // No ShareDB message ends a subscription from the server side; an op
    // error reaches the document (its 'error' event, or its in-flight op).
    Request r;
    r.action = Action::kOp;
    r.c = std::string(sdb::kCollection);
    r.d = l->doc_id();
    auto pe = sdb::to_protocol_error(Action::kSubscribe, why.error);
    s->send_text(sdb::error_reply(r, pe.code, pe.message));
  }

 private:
  static void close_for(net::WebSocketSession& s, identity::SessionEnd why) {
    s.close(net::CloseCode::kUnauthorized,
            why == identity::SessionEnd::kExpired ? "access token expired" : "session ended");
  }

  std::shared_ptr<net::WebSocketSession> session() {
    std::lock_guard lock(mu_);
    return session_;
  }
  bool subscribed(const std::string& doc_id) {
    std::lock_guard lock(mu_);
    return docs_.count(doc_id) > 0;
  }
  void send(std::string text) {
    if (auto s = session()) s->send_text(std::move(text));
  }
  void reply_error(const Request& r, std::string_view code, std::string_view message) {
    send(sdb::error_reply(r, code, message));
  }
  void reply_error(const Request& r, const Error& e) {
    auto pe = sdb::to_protocol_error(r.action, e);
    reply_error(r, pe.code, pe.message);
  }

  // Counts a request that waits for the SyncService; false (and an error
  // reply) when the connection has too many waiting.
  bool begin(const Request& r) {
    {
      std::lock_guard lock(mu_);
      if (in_flight_ < ctx_->limits().max_in_flight) {
        ++in_flight_;
        return true;
      }
    }
    reply_error(r, sdb::code::kResourceExhausted,
                "too many requests waiting on this connection (at most " +
                    std::to_string(ctx_->limits().max_in_flight) + "); wait for replies");
    return false;
  }
  void done() {
    std::lock_guard lock(mu_);
    --in_flight_;
  }

  std::string current_src() {
    std::lock_guard lock(mu_);
    return src_;
  }

  void handshake(const Request& r) {
    std::string src;
    {
      std::lock_guard lock(mu_);
      // A reconnecting client offers the id it had; it keeps it if it is its own.
      // Not once it subscribed: the documents know its subscriptions by the
      // id (its own ops come back as acks only, placed among the others').
      if (r.client_id && docs_.empty() && presence_.empty() &&
          ctx_->owns_client_id(principal_, *r.client_id)) {
        src_ = *r.client_id;
      }
      src = src_;
    }
    send(sdb::handshake_reply(src));
  }

  static Request doc_request(Action a, const std::string& doc_id) {
    Request r;
    r.action = a;
    r.c = std::string(sdb::kCollection);
    r.d = doc_id;
    return r;
  }

  void fetch(const Request& r, const std::string& doc_id, std::optional<std::int64_t> v) {
    if (!begin(r)) return;
    auto self = shared_from_this();
    Request req = doc_request(Action::kFetch, doc_id);
    if (!v) {
      sync_.fetch(principal_, doc_id, [self, req](Result<Snapshot> snap) {
        self->done();
        if (!snap) return self->reply_error(req, snap.error());
        self->send(sdb::doc_reply(Action::kFetch, *req.d, &*snap));
      });
      return;
    }
    sync_.ops(principal_, doc_id, *v, -1, [self, req](Result<std::vector<CommittedOpPtr>> ops) {
      self->done();
      if (!ops) return self->reply_error(req, ops.error());
      self->send_ops(*ops);
      self->send(sdb::doc_reply(Action::kFetch, *req.d, nullptr));
    });
  }

  void send_ops(const std::vector<CommittedOpPtr>& ops) {
    auto s = session();
    if (!s) return;
    for (const auto& op : ops)
      if (!s->send_shared(ctx_->op_message(op))) return;
  }

  void subscribe(const Request& r, const std::string& doc_id, std::optional<std::int64_t> v) {
    Request req = doc_request(Action::kSubscribe, doc_id);
    auto l =
        std::make_shared<Listener>(weak_from_this(), doc_id, Listener::Kind::kOps, current_src());
    std::shared_ptr<Listener> previous;
    {
      std::lock_guard lock(mu_);
      auto it = docs_.find(doc_id);
      if (it == docs_.end() && docs_.size() + presence_.size() >= ctx_->limits().max_subscriptions)
        l.reset();
      else if (in_flight_ >= ctx_->limits().max_in_flight)
        l.reset();
      else {
        ++in_flight_;
        if (it != docs_.end()) {
          previous = std::exchange(it->second, l);
          previous->retire();
        } else {
          docs_.emplace(doc_id, l);
        }
        if (!closed_) l->activate(session_);
      }
    }
    if (!l) {
      return reply_error(req, sdb::code::kResourceExhausted,
                         "too many subscriptions or waiting requests on this connection "
                         "(at most " +
                             std::to_string(ctx_->limits().max_subscriptions) + " subscriptions)");
    }
    if (previous) sync_.unsubscribe(principal_.tenant_id, doc_id, previous.get());
    auto self = shared_from_this();
    sync_.subscribe(principal_, doc_id, v, l, [self, req, l](Result<SyncService::Subscribed> sub) {
      self->done();
      if (!sub) {
        self->drop(self->docs_, *req.d, l.get());
        if (transient(sub.error())) return self->close_unavailable();
        return self->reply_error(req, sub.error());
      }
      self->send_ops(sub->missed);
      self->send(
          sdb::doc_reply(Action::kSubscribe, *req.d, sub->snapshot ? &*sub->snapshot : nullptr));
    });
  }

  // Forgets `l` if it is still the subscription of doc_id in `map`.
  void drop(std::map<std::string, std::shared_ptr<Listener>>& map, const std::string& doc_id,
            const Listener* l) {
    std::shared_ptr<Listener> keep;
    std::lock_guard lock(mu_);
    auto it = map.find(doc_id);
    if (it != map.end() && it->second.get() == l) {
      keep = std::move(it->second);
      keep->retire();
      map.erase(it);
    }
  }

  void close_unavailable() {
    if (auto s = session())
      s->close(net::CloseCode::kTryAgainLater, "document service unavailable; reconnect");
  }

  void unsubscribe(const std::string& doc_id) {
    std::shared_ptr<Listener> l;
    {
      std::lock_guard lock(mu_);
      auto it = docs_.find(doc_id);
      if (it != docs_.end()) {
        l = std::move(it->second);
        l->retire();
        docs_.erase(it);
      }
    }
    if (l) sync_.unsubscribe(principal_.tenant_id, doc_id, l.get());
    send(sdb::doc_reply(Action::kUnsubscribe, doc_id, nullptr));
  }

  // Bulk requests are answered document by document with the single
  // replies (f, s, u): the client handles those exactly like the per-document
  // parts of a bulk reply, and one document's error stays its own.
  void bulk(const Request& r) {
    for (const auto& [id, v] : r.bulk) {
      Request one = doc_request(Action::kUnknown, id);
      switch (r.action) {
        case Action::kBulkFetch:
          one.action = Action::kFetch;
          fetch(one, id, v);
          break;
        case Action::kBulkSubscribe:
          one.action = Action::kSubscribe;
          subscribe(one, id, v);
          break;
        default:
          unsubscribe(id);
          break;
      }
    }
  }

  bool take_op_token() {
    const auto& lim = ctx_->limits();
    return ops_.take(ctx_->now(), lim.ops_per_second, lim.op_burst);
  }

  void submit(Request& r) {
    if (r.op_kind == Request::OpKind::kDelete)
      return reply_error(r, sdb::code::kDeleteNotSupported,
                         "documents are deleted through the REST API (move to trash), not by a "
                         "ShareDB del op");
    std::string src = current_src();
    if (!r.src) {
      r.src = src;
    } else if (*r.src != src && !ctx_->owns_client_id(principal_, *r.src)) {
      return reply_error(r, sdb::code::kBadMessage, "src was not issued to this user");
    }
    if (r.op_kind == Request::OpKind::kEdit && !r.v)
      return reply_error(r, sdb::code::kBadMessage, "Invalid version: an op needs \"v\"");
    if (!take_op_token())
      return reply_error(r, sdb::code::kResourceExhausted,
                         "too many ops (at most " +
                             std::to_string(static_cast<long>(ctx_->limits().ops_per_second)) +
                             " a second); retry later");
    if (!begin(r)) return;
    SyncService::Submit s;
    s.doc_id = *r.d;
    s.base_version = r.v.value_or(0);
    s.src = *r.src;
    s.seq = *r.seq;
    if (r.op_kind == Request::OpKind::kCreate) {
      s.kind = CommittedOp::Kind::kCreate;
      s.create_text = std::move(r.create_text);
    } else {
      s.kind = CommittedOp::Kind::kEdit;
      s.op = std::move(r.op);
    }
    Request req;  // routing only: not the op's payload
    req.action = Action::kOp;
    req.c = r.c;
    req.d = r.d;
    req.src = r.src;
    req.seq = r.seq;
    req.v = r.v;
    auto self = shared_from_this();
    sync_.submit(principal_, std::move(s), [self, req](Result<SyncService::Submitted> res) {
      self->done();
      if (!res) {
        // The client keeps an op it has no answer for and sends it again
        // after reconnecting ((src, seq) makes the retry safe): better than
        // an error, which would make it roll the edit back.
        if (transient(res.error())) return self->close_unavailable();
        return self->reply_error(req, res.error());
      }
      // A subscribed connection already has the ops its op was transformed
      // over (the hub delivers them to its listener before this answer);
      // sending them again doubles the fan-out under load, as stock ShareDB
      // does. Only an unsubscribed submitter needs them.
      if (!self->subscribed(*req.d)) self->send_ops(res->missed);
      self->send(sdb::op_ack(*req.d, *req.src, *req.seq, res->version));
    });
  }

  void snapshot(const Request& r) {
    if (!begin(r)) return;
    auto self = shared_from_this();
    Request req;
    req.action = r.action;
    req.request_id = r.request_id;
    auto reply = [self, req](Result<Snapshot> snap) {
      self->done();
      if (!snap) return self->reply_error(req, snap.error());
      self->send(sdb::snapshot_reply(req.action, *req.request_id, *snap));
    };
    if (r.action == Action::kSnapshotFetch && r.v)
      sync_.snapshot_at(principal_, *r.d, *r.v, reply);
    else if (r.action == Action::kSnapshotFetchTime && r.ts)
      sync_.snapshot_at_time(principal_, *r.d, *r.ts, reply);
    else
      sync_.fetch(principal_, *r.d, reply);
  }

  void presence_subscribe(const Request& r) {
    auto doc = sdb::doc_of_channel(*r.ch);
    if (!doc)
      return reply_error(r, sdb::code::kBadMessage,
                         "only document presence is supported (channel \"docs.<id>\")");
    std::int64_t seq = r.seq.value_or(0);
    auto l = std::make_shared<Listener>(weak_from_this(), *doc, Listener::Kind::kPresence,
                                        current_src());
    bool already = false;
    {
      std::lock_guard lock(mu_);
      if (presence_.count(*doc)) {
        already = true;
      } else if (docs_.size() + presence_.size() >= ctx_->limits().max_subscriptions ||
                 in_flight_ >= ctx_->limits().max_in_flight) {
        l.reset();
      } else {
        ++in_flight_;
        presence_.emplace(*doc, l);
      }
    }
    if (already)
      return send(sdb::presence_subscription_reply(Action::kPresenceSubscribe, *r.ch, seq));
    if (!l)
      return reply_error(r, sdb::code::kResourceExhausted,
                         "too many subscriptions or waiting requests on this connection");
    auto self = shared_from_this();
    Request req = r;
    sync_.subscribe(
        principal_, *doc, std::nullopt, l,
        [self, req, l, seq](const Result<SyncService::Subscribed>& sub) {
          self->done();
          if (!sub) {
            self->drop(self->presence_, l->doc_id(), l.get());
            return self->reply_error(req, sub.error());
          }
          self->send(sdb::presence_subscription_reply(Action::kPresenceSubscribe, *req.ch, seq));
        });
  }

  void presence_unsubscribe(const Request& r) {
    std::shared_ptr<Listener> l;
    if (auto doc = sdb::doc_of_channel(*r.ch)) {
      std::lock_guard lock(mu_);
      auto it = presence_.find(*doc);
      if (it != presence_.end()) {
        l = std::move(it->second);
        presence_.erase(it);
      }
    }
    if (l) sync_.unsubscribe(principal_.tenant_id, l->doc_id(), l.get());
    send(sdb::presence_subscription_reply(Action::kPresenceUnsubscribe, *r.ch, r.seq.value_or(0)));
  }

  void presence(const Request& r) {
    auto doc = sdb::doc_of_channel(*r.ch);
    if (!doc || (r.d && *r.d != *doc))
      return reply_error(r, sdb::code::kBadMessage,
                         "only document presence is supported (channel \"docs.<id>\")");
    if (r.presence_value && r.presence_value->size() > ctx_->limits().max_presence_bytes)
      return reply_error(
          r, sdb::code::kBadMessage,
          "presence value over " + std::to_string(ctx_->limits().max_presence_bytes) + " bytes");
    std::shared_ptr<Listener> l;
    {
      std::lock_guard lock(mu_);
      if (auto it = presence_.find(*doc); it != presence_.end())
        l = it->second;
      else if (auto d = docs_.find(*doc); d != docs_.end())
        l = d->second;
    }
    if (!l)
      return reply_error(r, sdb::code::kBadMessage,
                         "subscribe to the document or its presence before sending presence");
    sync_.presence(principal_, *doc, l.get(), *r.presence_id, r.presence_value.value_or(""),
                   r.v.value_or(0));
    send(sdb::presence_ack(*r.ch, *r.presence_id, *r.pv));
  }

  void auth(const Request& r) {
    if (!hooks_.renew)
      return reply_error(r, sdb::code::kBadMessage, "token renewal is not available here");
    Result<Principal> renewed = Error::unauthenticated("session ended");
    {
      std::lock_guard lock(mu_);
      if (lease_) renewed = hooks_.renew(*lease_, *r.token);
    }
    if (!renewed)
      return reply_error(r, "ERR_" + std::string(error_code_name(renewed.error().code)),
                         renewed.error().message);
    send("{\"a\":\"auth\",\"expiresAt\":\"" + rfc3339_ms(renewed->expires_at_s * 1000) + "\"}");
  }

  const std::shared_ptr<const SharedbContext> ctx_;
  SyncService& sync_;
  const Principal principal_;
  const SharedbSessionHooks hooks_;

  std::mutex mu_;
  std::shared_ptr<net::WebSocketSession> session_;             // guarded by mu_
  std::optional<identity::SessionEnd> ended_;                  // guarded by mu_
  std::unique_ptr<identity::SessionWatch::Lease> lease_;       // guarded by mu_
  bool closed_ = false;                                        // guarded by mu_
  std::string src_;                                            // guarded by mu_
  std::map<std::string, std::shared_ptr<Listener>> docs_;      // guarded by mu_
  std::map<std::string, std::shared_ptr<Listener>> presence_;  // guarded by mu_
  std::size_t in_flight_ = 0;                                  // guarded by mu_
  std::int64_t presence_version_ = 0;                          // guarded by mu_
  // The I/O thread only (on_message calls come one at a time):
  OpBucket ops_;
};

void Listener::on_op(const CommittedOpPtr& op) {
  if (kind_ != Kind::kOps) return;
  if (auto c = conn_.lock()) c->deliver_op(this, op);
}
void Listener::on_ops(std::span<const CommittedOpPtr> ops) {
  if (kind_ != Kind::kOps) return;
  if (auto c = conn_.lock()) c->deliver_ops(this, ops);
}
void Listener::on_presence(std::string_view presence_id, std::string_view value_json,
                           std::int64_t version, std::string_view src) {
  if (kind_ != Kind::kPresence) return;
  if (auto c = conn_.lock()) c->deliver_presence(this, presence_id, value_json, version, src);
}
void Listener::on_ended(const Ended& why) {
  if (auto c = conn_.lock()) c->ended(this, why);
}

class Handler final : public net::WebSocketHandler {
 public:
  explicit Handler(std::shared_ptr<Conn> c) : conn_(std::move(c)) {}
  ~Handler() override {
    if (conn_) conn_->closed();  // never opened (or on_close not called): release it all
  }
  void on_open(std::shared_ptr<net::WebSocketSession> s) override { conn_->open(s); }
  void on_message(std::string_view text) override { conn_->message(text); }
  void on_close(std::uint16_t) override {
    conn_->closed();
    conn_.reset();
  }

 private:
  std::shared_ptr<Conn> conn_;
};

}  // namespace

std::shared_ptr<const SharedbContext> make_sharedb_context(SharedbOptions options) {
  return std::make_shared<const SharedbContext>(std::move(options));
}

std::unique_ptr<net::WebSocketHandler> make_sharedb_connection(
    const std::shared_ptr<const SharedbContext>& ctx, SyncService& sync, const Principal& p,
    const SharedbSessionHooks& hooks) {
  auto conn = std::make_shared<Conn>(ctx, sync, p, hooks);
  conn->watch();
  return std::make_unique<Handler>(std::move(conn));
}

void register_sharedb_route(net::Router& router, SyncService& sync, SharedbSessionHooks hooks,
                            SharedbOptions options) {
  auto ctx = make_sharedb_context(std::move(options));
  router.add_websocket("/sharedb",
                       [ctx, &sync, hooks = std::move(hooks)](
                           net::Request& req) -> Result<std::unique_ptr<net::WebSocketHandler>> {
                         return make_sharedb_connection(ctx, sync, req.caller(), hooks);
                       });
}

void register_sharedb_route(net::Router& router, SyncService& sync,
                            identity::IdentityService& identity, SharedbOptions options) {
  SharedbSessionHooks hooks;
  hooks.watch = [&identity](const Principal& p, identity::SessionWatch::EndFn end) {
    return identity.watch(p, std::move(end));
  };
  hooks.renew = [&identity](identity::SessionWatch::Lease& lease, std::string_view token) {
    return identity.renew(lease, token);
  };
  register_sharedb_route(router, sync, std::move(hooks), std::move(options));
}

}  // namespace office::docs
