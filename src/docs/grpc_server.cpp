#include "docs/grpc_server.hpp"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <map>
#include <mutex>

#include "docs/adapter_util.hpp"
#include "docs/catalog.hpp"
#include "docs/grpc_convert.hpp"
#include "office/docs/v1/docs.grpc.pb.h"
#include "rpc/call.hpp"

namespace office::docs {
namespace {

namespace pb = office::docs::v1;
using SteadyClock = std::chrono::steady_clock;

bool valid_client_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.'))
      return false;
  return true;
}

class Stream;

class StreamListener final : public DocListener {
 public:
  StreamListener(std::weak_ptr<Stream> s, std::string doc_id, std::string src)
      : stream_(std::move(s)), doc_id_(std::move(doc_id)), src_(std::move(src)) {}
  void on_op(const CommittedOpPtr& op) override;
  void on_ended(const Ended& why) override;
  std::string_view client_id() const override { return src_; }
  const std::string& doc_id() const { return doc_id_; }

 private:
  std::weak_ptr<Stream> stream_;
  const std::string doc_id_;
  const std::string src_;
};

class Reactor;

// One SyncStream call. Shared by its reactor (until OnDone), the listeners
// (weakly) and the SyncService callbacks in flight. Every Start*/Finish on
// the reactor is decided under mu_ and made outside it (gRPC may run a
// reaction inline); `starting_` keeps Finish from overtaking a Start* that
// is being made.
class Stream final : public std::enable_shared_from_this<Stream> {
 public:
  Stream(SyncService& sync, const GrpcSyncOptions& opts, Result<Principal> p)
      : sync_(sync), opts_(opts), principal_(std::move(p)), ops_(opts.op_burst, now()) {}

  void attach(Reactor* r);
  void read_done(bool ok);
  void write_done(bool ok);
  void on_done();
  void cancelled() { finish(grpc::Status(grpc::CANCELLED, "cancelled"), false); }

  void deliver(const StreamListener* l, const CommittedOpPtr& op) {
    pb::EditResponse r;
    to_remote_op(*op, r.mutable_op());
    std::unique_lock lock(mu_);
    auto it = subs_.find(l->doc_id());
    if (it == subs_.end() || it->second.get() != l) return;
    push_locked(lock, std::move(r));
  }
  void ended(const StreamListener* l, const Ended& why) {
    std::shared_ptr<StreamListener> keep;
    {
      std::lock_guard lock(mu_);
      auto it = subs_.find(l->doc_id());
      if (it == subs_.end() || it->second.get() != l) return;
      keep = std::move(it->second);
      subs_.erase(it);
    }
    // The document went away (shutdown, a failed commit): the client
    // reconnects and resubmits, as a ShareDB client does.
    if (transient(why.error))
      return finish(grpc::Status(grpc::UNAVAILABLE, "document unavailable; reconnect"), true);
    send_error(l->doc_id(), 0, why.error);
  }
  void finish(grpc::Status st, bool drain);

 private:
  std::chrono::steady_clock::time_point now() const {
    return opts_.now ? opts_.now() : SteadyClock::now();
  }
  void handle(pb::EditRequest& req);
  void subscribe(const pb::EditRequest& req);
  void unsubscribe(const std::string& doc_id);
  void submit(pb::EditRequest& req);
  bool take_op_token() { return ops_.take(now(), opts_.ops_per_second, opts_.op_burst); }
  void begin() {
    std::lock_guard lock(mu_);
    in_flight_++;
  }
  void end_one();

  void send(pb::EditResponse r) {
    std::unique_lock lock(mu_);
    push_locked(lock, std::move(r));
  }
  void send_error(const std::string& doc_id, std::int64_t seq, const Error& e) {
    pb::EditResponse r;
    auto* err = r.mutable_error();
    err->set_doc_id(doc_id);
    err->set_seq(seq);
    err->set_code(std::string(error_code_name(e.code)));
    err->set_message(e.message);
    send(std::move(r));
  }
  void push_locked(std::unique_lock<std::mutex>& lock, pb::EditResponse r);
  void maybe_finish_locked(std::unique_lock<std::mutex>& lock);
  // Runs `start` (a StartRead/StartWrite on the reactor) outside the lock,
  // with Finish held off until it returned (mu_ held on entry and exit).
  template <class F>
  void start_unlocked(std::unique_lock<std::mutex>& lock, F&& start) {
    starting_++;
    lock.unlock();
    start();
    lock.lock();
    starting_--;
    maybe_finish_locked(lock);
  }

  SyncService& sync_;
  const GrpcSyncOptions& opts_;
  const Result<Principal> principal_;
  std::string src_;  // "<user id>/<client id>", set by the first request
  // The reader's (read_done runs one at a time):
  OpBucket ops_;
  pb::EditRequest req_;

  std::mutex mu_;
  Reactor* reactor_ = nullptr;  // until on_done
  std::deque<pb::EditResponse> out_;
  bool writing_ = false;
  int starting_ = 0;
  bool finishing_ = false, finished_ = false, drain_ = true;
  grpc::Status final_;
  std::size_t in_flight_ = 0;
  bool read_paused_ = false, reads_over_ = false;
  std::map<std::string, std::shared_ptr<StreamListener>> subs_;
  std::unique_ptr<identity::SessionWatch::Lease> lease_;
};

class Reactor final : public grpc::ServerBidiReactor<pb::EditRequest, pb::EditResponse> {
 public:
  explicit Reactor(std::shared_ptr<Stream> s) : stream_(std::move(s)) {}
  void start() {
    auto s = stream_;
    s->attach(this);
  }
  void OnReadDone(bool ok) override {
    auto s = stream_;
    s->read_done(ok);
  }
  void OnWriteDone(bool ok) override {
    auto s = stream_;
    s->write_done(ok);
  }
  void OnCancel() override {
    auto s = stream_;
    s->cancelled();
  }
  void OnDone() override {
    auto s = std::move(stream_);
    delete this;
    s->on_done();
  }

 private:
  std::shared_ptr<Stream> stream_;
};

void StreamListener::on_op(const CommittedOpPtr& op) {
  if (auto s = stream_.lock()) s->deliver(this, op);
}
void StreamListener::on_ended(const Ended& why) {
  if (auto s = stream_.lock()) s->ended(this, why);
}

void Stream::attach(Reactor* r) {
  std::unique_lock lock(mu_);
  reactor_ = r;
  if (!principal_) {
    lock.unlock();
    return finish(rpc::to_status(principal_.error()), false);
  }
  if (opts_.watch) {
    std::weak_ptr<Stream> weak = weak_from_this();
    lease_ = opts_.watch(*principal_, [weak](identity::SessionEnd) {
      if (auto s = weak.lock())
        s->finish(grpc::Status(grpc::UNAUTHENTICATED, "session ended; sign in again"), false);
    });
  }
  start_unlocked(lock, [&] { r->StartRead(&req_); });
}

void Stream::read_done(bool ok) {
  if (!ok) {  // the client half-closed (or is gone): answer what is in flight, then end
    std::unique_lock lock(mu_);
    reads_over_ = true;
    if (in_flight_ == 0 && !finishing_) {
      finishing_ = true;
      final_ = grpc::Status::OK;
    }
    maybe_finish_locked(lock);
    return;
  }
  pb::EditRequest req = std::move(req_);
  handle(req);
  std::unique_lock lock(mu_);
  if (finishing_) return maybe_finish_locked(lock);
  if (in_flight_ >= opts_.max_in_flight) {
    read_paused_ = true;
    return;
  }
  start_unlocked(lock, [&] { reactor_->StartRead(&req_); });
}

void Stream::end_one() {
  std::unique_lock lock(mu_);
  in_flight_--;
  if (reads_over_ && in_flight_ == 0 && !finishing_) {
    finishing_ = true;
    final_ = grpc::Status::OK;
    return maybe_finish_locked(lock);
  }
  if (!read_paused_ || finishing_ || in_flight_ >= opts_.max_in_flight) return;
  read_paused_ = false;
  start_unlocked(lock, [&] { reactor_->StartRead(&req_); });
}

void Stream::push_locked(std::unique_lock<std::mutex>& lock, pb::EditResponse r) {
  if (finishing_ || !reactor_) return;
  if (out_.size() >= opts_.max_queued_responses) {
    lock.unlock();
    return finish(grpc::Status(grpc::RESOURCE_EXHAUSTED,
                               "the client reads its stream too slowly (more than " +
                                   std::to_string(opts_.max_queued_responses) +
                                   " responses queued); reconnect"),
                  false);
  }
  out_.push_back(std::move(r));
  if (writing_) return;
  writing_ = true;
  const pb::EditResponse* msg = &out_.front();
  start_unlocked(lock, [&] { reactor_->StartWrite(msg); });
}

void Stream::write_done(bool ok) {
  std::unique_lock lock(mu_);
  out_.pop_front();
  if (!ok) {  // the client is gone
    if (!finishing_) {
      finishing_ = true;
      final_ = grpc::Status(grpc::CANCELLED, "client gone");
    }
    drain_ = false;
    out_.clear();
  }
  if (out_.empty() || (finishing_ && !drain_)) {
    out_.clear();
    writing_ = false;
    return maybe_finish_locked(lock);
  }
  const pb::EditResponse* msg = &out_.front();
  start_unlocked(lock, [&] { reactor_->StartWrite(msg); });
}

void Stream::finish(grpc::Status st, bool drain) {
  std::unique_lock lock(mu_);
  if (finishing_) return;
  finishing_ = true;
  final_ = std::move(st);
  drain_ = drain;
  if (!drain && out_.size() > 1) out_.erase(out_.begin() + (writing_ ? 1 : 0), out_.end());
  maybe_finish_locked(lock);
}

void Stream::maybe_finish_locked(std::unique_lock<std::mutex>& lock) {
  if (!finishing_ || finished_ || writing_ || starting_ > 0 || !reactor_) return;
  finished_ = true;
  grpc::Status st = final_;
  Reactor* r = reactor_;
  lock.unlock();
  r->Finish(st);
  lock.lock();
}

void Stream::on_done() {
  std::map<std::string, std::shared_ptr<StreamListener>> subs;
  std::unique_ptr<identity::SessionWatch::Lease> lease;
  {
    std::lock_guard lock(mu_);
    reactor_ = nullptr;
    subs.swap(subs_);
    lease = std::move(lease_);
  }
  if (principal_)
    for (auto& [id, l] : subs) sync_.unsubscribe(principal_->tenant_id, id, l.get());
}

void Stream::handle(pb::EditRequest& req) {
  const std::string& doc = req.doc_id();
  const std::int64_t seq = req.seq();
  if (!valid_doc_id(doc))
    return send_error(doc.size() <= 64 ? doc : std::string(), seq,
                      Error::invalid("doc_id: not a valid document id"));
  if (!req.client_id().empty() || src_.empty()) {
    if (!valid_client_id(req.client_id()))
      return send_error(doc, seq, Error::invalid("client_id: 1 to 64 of [A-Za-z0-9_.-]"));
    std::string src = principal_->user_id + "/" + req.client_id();
    if (src_.empty()) {
      src_ = std::move(src);
    } else if (src != src_) {
      return send_error(doc, seq,
                        Error::invalid("client_id: a stream keeps the client_id of its first "
                                       "request"));
    }
  }
  int kinds = (req.subscribe() ? 1 : 0) + (req.unsubscribe() ? 1 : 0) +
              (req.has_create_text() ? 1 : 0) + (req.op_size() > 0 ? 1 : 0);
  if (kinds > 1)
    return send_error(doc, seq, Error::invalid("one of op, create_text, subscribe or unsubscribe"));
  if (req.subscribe()) return subscribe(req);
  if (req.unsubscribe()) return unsubscribe(doc);
  submit(req);
}

void Stream::subscribe(const pb::EditRequest& req) {
  const std::string& doc = req.doc_id();  // req outlives this call; the lambda copies it
  if (req.from_version() < 0)
    return send_error(doc, 0, Error::invalid("from_version: must not be negative"));
  auto l = std::make_shared<StreamListener>(weak_from_this(), doc, src_);
  {
    std::unique_lock lock(mu_);
    if (subs_.count(doc) != 0) {
      lock.unlock();
      return send_error(doc, 0, Error::invalid("already subscribed to this document"));
    }
    if (subs_.size() >= opts_.max_subscriptions) {
      lock.unlock();
      return send_error(doc, 0,
                        Error::exhausted("at most " + std::to_string(opts_.max_subscriptions) +
                                             " subscriptions per stream",
                                         0));
    }
    subs_[doc] = l;
    in_flight_++;
  }
  std::optional<std::int64_t> from;
  if (req.from_version() > 0) from = req.from_version();
  auto self = shared_from_this();
  sync_.subscribe(*principal_, doc, from, l, [self, doc, l](Result<SyncService::Subscribed> sub) {
    if (!sub) {
      {
        std::lock_guard lock(self->mu_);
        auto it = self->subs_.find(doc);
        if (it != self->subs_.end() && it->second == l) self->subs_.erase(it);
      }
      if (transient(sub.error()))
        self->finish(grpc::Status(grpc::UNAVAILABLE, "document unavailable; reconnect"), true);
      else
        self->send_error(doc, 0, sub.error());
      return self->end_one();
    }
    if (sub->snapshot) {
      pb::EditResponse r;
      auto* s = r.mutable_snapshot();
      s->set_doc_id(doc);
      s->set_version(sub->snapshot->version);
      s->set_exists(sub->snapshot->exists);
      s->set_text(sub->snapshot->text);
      self->send(std::move(r));
    }
    for (const auto& op : sub->missed) {
      pb::EditResponse r;
      to_remote_op(*op, r.mutable_op());
      self->send(std::move(r));
    }
    self->end_one();
  });
}

void Stream::unsubscribe(const std::string& doc_id) {
  std::shared_ptr<StreamListener> l;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(doc_id);
    if (it == subs_.end()) return;
    l = std::move(it->second);
    subs_.erase(it);
  }
  sync_.unsubscribe(principal_->tenant_id, doc_id, l.get());
}

void Stream::submit(pb::EditRequest& req) {
  const std::string doc = req.doc_id();
  const std::int64_t seq = req.seq();
  if (seq <= 0) return send_error(doc, seq, Error::invalid("seq: must be > 0"));
  SyncService::Submit s;
  s.doc_id = doc;
  s.src = src_;
  s.seq = seq;
  s.base_version = req.base_version();
  if (req.has_create_text()) {
    s.kind = CommittedOp::Kind::kCreate;
    s.create_text = std::move(*req.mutable_create_text());
  } else {
    if (s.base_version <= 0)
      return send_error(doc, seq,
                        Error::invalid("base_version: an op needs the version it "
                                       "was made at (> 0)"));
    auto op = from_proto(req.op());
    if (!op) return send_error(doc, seq, op.error());
    s.kind = CommittedOp::Kind::kEdit;
    s.op = std::move(*op);
  }
  if (!take_op_token())
    return send_error(doc, seq,
                      Error::exhausted("too many ops (at most " +
                                           std::to_string(static_cast<long>(opts_.ops_per_second)) +
                                           " a second); retry later",
                                       1));
  begin();
  auto self = shared_from_this();
  sync_.submit(*principal_, std::move(s), [self, doc, seq](Result<SyncService::Submitted> res) {
    if (!res) {
      // The client keeps an op it has no answer for and resubmits it after
      // reconnecting ((client_id, seq) makes that safe).
      if (transient(res.error()))
        self->finish(grpc::Status(grpc::UNAVAILABLE, "document unavailable; reconnect"), true);
      else
        self->send_error(doc, seq, res.error());
      return self->end_one();
    }
    bool subscribed;
    {
      std::lock_guard lock(self->mu_);
      subscribed = self->subs_.count(doc) != 0;
    }
    if (!subscribed)
      for (const auto& op : res->missed) {
        pb::EditResponse r;
        to_remote_op(*op, r.mutable_op());
        self->send(std::move(r));
      }
    pb::EditResponse r;
    auto* ack = r.mutable_ack();
    ack->set_doc_id(doc);
    ack->set_version(res->version);
    ack->set_seq(seq);
    ack->set_duplicate(res->duplicate);
    self->send(std::move(r));
    self->end_one();
  });
}

class DocSyncService final : public pb::DocSync::CallbackService {
 public:
  DocSyncService(SyncService& sync, GrpcSyncOptions opts) : sync_(sync), opts_(std::move(opts)) {}
  grpc::ServerBidiReactor<pb::EditRequest, pb::EditResponse>* SyncStream(
      grpc::CallbackServerContext* ctx) override {
    auto stream = std::make_shared<Stream>(sync_, opts_, rpc::caller(ctx));
    bool draining;
    {
      std::lock_guard lock(mu_);
      draining = draining_;
      if (!draining) {
        // Forget streams that are over (they are gone once their reactor is).
        if (++since_prune_ > 256) {
          since_prune_ = 0;
          std::erase_if(streams_, [](const auto& w) { return w.expired(); });
        }
        streams_.push_back(stream);
      }
    }
    auto* r = new Reactor(stream);
    r->start();
    if (draining) stream->finish(shutting_down(), false);
    return r;
  }
  void drain() {
    std::vector<std::weak_ptr<Stream>> streams;
    {
      std::lock_guard lock(mu_);
      draining_ = true;
      streams.swap(streams_);
    }
    for (auto& w : streams)
      if (auto s = w.lock()) s->finish(shutting_down(), true);
  }

 private:
  static grpc::Status shutting_down() {
    return {grpc::UNAVAILABLE, "server shutting down; reconnect"};
  }
  SyncService& sync_;
  const GrpcSyncOptions opts_;
  std::mutex mu_;
  std::vector<std::weak_ptr<Stream>> streams_;
  std::size_t since_prune_ = 0;
  bool draining_ = false;
};

}  // namespace

struct DocSyncGrpc::Impl {
  Impl(SyncService& sync, GrpcSyncOptions o) : service(sync, std::move(o)) {}
  DocSyncService service;
};

DocSyncGrpc::DocSyncGrpc(SyncService& sync, GrpcSyncOptions options)
    : impl_(std::make_unique<Impl>(sync, std::move(options))) {}
DocSyncGrpc::~DocSyncGrpc() = default;
grpc::Service* DocSyncGrpc::service() { return &impl_->service; }
void DocSyncGrpc::drain() { impl_->service.drain(); }

}  // namespace office::docs
