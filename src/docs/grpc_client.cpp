#include "docs/grpc_client.hpp"

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "docs/grpc_convert.hpp"
#include "office/docs/v1/docs.grpc.pb.h"
#include "ot/document.hpp"

namespace office::docs {

namespace pb = office::docs::v1;

namespace {

Error error_from(const pb::EditError& e) {
  static const std::map<std::string, ErrorCode, std::less<>> codes = {
      {"INVALID_ARGUMENT", ErrorCode::kInvalidArgument},
      {"UNAUTHENTICATED", ErrorCode::kUnauthenticated},
      {"PERMISSION_DENIED", ErrorCode::kPermissionDenied},
      {"NOT_FOUND", ErrorCode::kNotFound},
      {"ALREADY_EXISTS", ErrorCode::kAlreadyExists},
      {"FAILED_PRECONDITION", ErrorCode::kFailedPrecondition},
      {"RESOURCE_EXHAUSTED", ErrorCode::kResourceExhausted},
      {"UNAVAILABLE", ErrorCode::kUnavailable}};
  auto it = codes.find(e.code());
  return {it == codes.end() ? ErrorCode::kInternal : it->second, e.message()};
}

Error error_from(const grpc::Status& st) {
  ErrorCode c = ErrorCode::kUnavailable;
  switch (st.error_code()) {
    case grpc::UNAUTHENTICATED:
      c = ErrorCode::kUnauthenticated;
      break;
    case grpc::PERMISSION_DENIED:
      c = ErrorCode::kPermissionDenied;
      break;
    case grpc::INVALID_ARGUMENT:
      c = ErrorCode::kInvalidArgument;
      break;
    case grpc::RESOURCE_EXHAUSTED:
      c = ErrorCode::kResourceExhausted;
      break;
    default:
      break;
  }
  return {c, st.ok() ? "stream ended" : st.error_message()};
}

// An end that a new stream may not have: the server went away, restarted,
// drained, or found us too slow.
bool worth_reconnecting(const grpc::Status& st) {
  switch (st.error_code()) {
    case grpc::UNAVAILABLE:
    case grpc::CANCELLED:
    case grpc::DEADLINE_EXCEEDED:
    case grpc::RESOURCE_EXHAUSTED:
    case grpc::ABORTED:
    case grpc::INTERNAL:
    case grpc::UNKNOWN:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct DocSyncClient::Impl {
  Options options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::DocSync::Stub> stub;
  std::thread reader;
  std::mutex write_mu;  // one Write at a time; guards ctx and stream
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReaderWriter<pb::EditRequest, pb::EditResponse>> stream;
  bool finished = false;  // Finish() was called on `stream`

  // A document as the client sees it: the server's version plus its own
  // unacknowledged edits (in flight, then waiting), already in `text`.
  struct Replica {
    bool requested = false;  // open() asked for it
    bool opened = false;
    std::string text;
    std::int64_t version = 0;
    std::optional<ot::Op> inflight;
    std::int64_t inflight_seq = 0;
    std::optional<ot::Op> pending;
    std::optional<Error> error;
  };
  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Replica, std::less<>> docs;
  std::int64_t seq = 0;
  std::optional<Error> ended;
  bool closing = false;
  int reconnects = 0;
  std::function<void(std::string_view)> on_change;

  bool write(const pb::EditRequest& r) {
    std::lock_guard lock(write_mu);
    return !finished && stream->Write(r);
  }

  // A new stream (write_mu held).
  void open_stream() {
    finished = false;
    ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + options.access_token);
    if (!options.traceparent.empty()) ctx->AddMetadata("traceparent", options.traceparent);
    stream = stub->SyncStream(ctx.get());
  }

  bool own(const std::string& src) const {
    const std::string& id = options.client_id;
    return src.size() > id.size() && src.compare(src.size() - id.size(), id.size(), id) == 0 &&
           src[src.size() - id.size() - 1] == '/';
  }

  // After a broken stream: a new one, every open document resubscribed from
  // its version (the ops since come first, in order, including our own op
  // if it was committed: then it counts as its acknowledgement), then the
  // op in flight again. False once reconnect_for passed or the client closes.
  bool reconnect(std::chrono::steady_clock::time_point until) {
    auto backoff = std::chrono::milliseconds(50);
    for (;;) {
      {
        std::unique_lock lock(mu);
        if (closing) return false;
        if (std::chrono::steady_clock::now() >= until) return false;
        cv.wait_for(lock, backoff, [&] { return closing; });
        if (closing) return false;
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      if (!channel->WaitForConnected(std::chrono::system_clock::now() + backoff)) continue;
      // write_mu first: an edit() racing with this either is in the resync
      // list or writes to the new stream after it (a copy sent twice is
      // de-duplicated by the server and its second ack ignored).
      std::lock_guard wl(write_mu);
      open_stream();
      std::vector<pb::EditRequest> resync;
      {
        std::lock_guard lock(mu);
        for (auto& [id, d] : docs) {
          if (!d.requested || d.error) continue;
          pb::EditRequest sub;
          sub.set_doc_id(id);
          sub.set_client_id(options.client_id);
          sub.set_subscribe(true);
          if (d.opened && d.version > 0) sub.set_from_version(d.version);
          resync.push_back(std::move(sub));
          if (d.inflight) resync.push_back(inflight_request(id, d));
        }
        reconnects++;
      }
      for (const auto& r : resync)
        if (!stream->Write(r)) break;  // shows as the new stream's end
      return true;
    }
  }

  // Sends the replica's inflight op (mu held; the write happens after).
  pb::EditRequest inflight_request(const std::string& doc_id, Replica& d) {
    pb::EditRequest r;
    r.set_doc_id(doc_id);
    r.set_client_id(options.client_id);
    r.set_seq(d.inflight_seq);
    r.set_base_version(d.version);
    to_proto(*d.inflight, r.mutable_op());
    return r;
  }

  void read_loop() {
    auto last_good = std::chrono::steady_clock::now();
    for (;;) {
      read_stream(last_good);
      grpc::Status st;
      {
        std::lock_guard wl(write_mu);
        st = stream->Finish();
        finished = true;
      }
      bool give_up;
      {
        std::lock_guard lock(mu);
        give_up = closing || !worth_reconnecting(st) || options.reconnect_for.count() <= 0;
        if (give_up) {
          ended = error_from(st);
          cv.notify_all();
        }
      }
      if (give_up) return;
      if (!reconnect(last_good + options.reconnect_for)) {
        std::lock_guard lock(mu);
        ended = error_from(st);
        cv.notify_all();
        return;
      }
    }
  }

  void read_stream(std::chrono::steady_clock::time_point& last_good) {
    grpc::ClientReaderWriter<pb::EditRequest, pb::EditResponse>* s;
    {
      std::lock_guard wl(write_mu);
      s = stream.get();  // replaced only by this thread (reconnect)
    }
    pb::EditResponse resp;
    while (s->Read(&resp)) {
      last_good = std::chrono::steady_clock::now();
      std::optional<pb::EditRequest> next;
      std::string changed;
      std::function<void(std::string_view)> notify;
      {
        std::lock_guard lock(mu);
        handle(resp, next, changed);
        if (!changed.empty()) notify = on_change;
        cv.notify_all();
      }
      if (next) write(*next);
      if (notify) notify(changed);
    }
  }

  // The op in flight was committed at `version` (mu held): the waiting
  // edits, composed, become the next op in flight (`next` to send).
  void acknowledged(const std::string& doc_id, Replica& d, std::int64_t version,
                    std::optional<pb::EditRequest>& next) {
    d.version = version + 1;
    d.inflight.reset();
    if (!d.pending) return;
    d.inflight = std::move(d.pending);
    d.pending.reset();
    d.inflight_seq = ++seq;
    next = inflight_request(doc_id, d);
  }

  void handle(const pb::EditResponse& resp, std::optional<pb::EditRequest>& next,
              std::string& changed) {
    switch (resp.result_case()) {
      case pb::EditResponse::kSnapshot: {
        auto& d = docs[resp.snapshot().doc_id()];
        d.opened = true;
        d.text = resp.snapshot().text();
        d.version = resp.snapshot().version();
        return;
      }
      case pb::EditResponse::kAck: {
        auto it = docs.find(resp.ack().doc_id());
        if (it == docs.end()) return;
        auto& d = it->second;
        if (!d.inflight || resp.ack().seq() != d.inflight_seq) return;
        acknowledged(it->first, d, resp.ack().version(), next);
        return;
      }
      case pb::EditResponse::kOp: {
        const auto& o = resp.op();
        auto it = docs.find(o.doc_id());
        if (it == docs.end() || !it->second.opened) return;
        auto& d = it->second;
        if (o.version() < d.version) return;  // already have it
        if (o.version() > d.version) {
          d.error = Error::internal("missed ops: got version " + std::to_string(o.version()) +
                                    " at " + std::to_string(d.version));
          return;
        }
        if (d.inflight && o.seq() == d.inflight_seq && own(o.src())) {
          // Our own op, committed before the stream broke (its ack was
          // lost): it is the acknowledgement. The resent copy's ack, a
          // duplicate, is then ignored.
          acknowledged(it->first, d, o.version(), next);
          return;
        }
        if (o.has_create_text()) {
          d.text = o.create_text();
          d.version++;
          changed = it->first;
          return;
        }
        auto op = from_proto(o.op());
        if (!op) {
          d.error = op.error();
          return;
        }
        // Transform the remote op over our unacknowledged edits and them
        // over it: the server put ours after it (ours took the left side).
        ot::Op remote = std::move(*op);
        for (auto* mine : {&d.inflight, &d.pending}) {
          if (!*mine) continue;
          auto r2 = ot::transform(remote, **mine, ot::Side::kRight);
          auto m2 = ot::transform(**mine, remote, ot::Side::kLeft);
          if (!r2 || !m2) {
            d.error = Error::internal("transform failed");
            return;
          }
          remote = std::move(*r2);
          **mine = std::move(*m2);
        }
        auto t = ot::apply_text(d.text, remote);
        if (!t) {
          d.error = t.error();
          return;
        }
        d.text = std::move(*t);
        d.version++;
        changed = it->first;
        return;
      }
      case pb::EditResponse::kError: {
        auto it = docs.find(resp.error().doc_id());
        if (it != docs.end()) it->second.error = error_from(resp.error());
        return;
      }
      default:
        return;
    }
  }
};

DocSyncClient::DocSyncClient() : impl_(std::make_unique<Impl>()) {}

DocSyncClient::~DocSyncClient() {
  Impl& s = *impl_;
  if (s.stream) {
    {
      std::lock_guard lock(s.mu);
      s.closing = true;
      s.cv.notify_all();
    }
    {
      std::lock_guard lock(s.write_mu);
      if (!s.finished) s.stream->WritesDone();
    }
    // The server answers what is in flight and ends the stream; a server
    // that does not gets cancelled.
    bool done;
    {
      std::unique_lock lock(s.mu);
      done = s.cv.wait_for(lock, s.options.timeout, [&] { return s.ended.has_value(); });
    }
    if (!done) {
      std::lock_guard lock(s.write_mu);
      s.ctx->TryCancel();
    }
  }
  if (s.reader.joinable()) s.reader.join();
}

Result<std::unique_ptr<DocSyncClient>> DocSyncClient::connect(const Options& options) {
  std::unique_ptr<DocSyncClient> c(new DocSyncClient());
  Impl& s = *c->impl_;
  s.options = options;
  s.channel = grpc::CreateChannel(options.target, grpc::InsecureChannelCredentials());
  if (!s.channel->WaitForConnected(std::chrono::system_clock::now() + options.timeout))
    return Error::unavailable("cannot reach " + options.target);
  s.stub = pb::DocSync::NewStub(s.channel);
  {
    std::lock_guard lock(s.write_mu);
    s.open_stream();
  }
  s.reader = std::thread([&s] { s.read_loop(); });
  return c;
}

Status DocSyncClient::open(std::string_view doc_id) {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (s.ended) return *s.ended;
    auto& d = s.docs[std::string(doc_id)];
    d = Impl::Replica();
    d.requested = true;
  }
  pb::EditRequest r;
  r.set_doc_id(std::string(doc_id));
  r.set_client_id(s.options.client_id);
  r.set_subscribe(true);
  // A broken stream is not the answer: its end (or the reconnect, which
  // subscribes again) is.
  s.write(r);
  std::unique_lock lock(s.mu);
  auto it = s.docs.find(doc_id);
  bool ok = s.cv.wait_for(lock, s.options.timeout, [&] {
    return it->second.opened || it->second.error.has_value() || s.ended.has_value();
  });
  if (it->second.error) return *it->second.error;
  if (s.ended) return *s.ended;
  if (!ok) return Error{ErrorCode::kDeadlineExceeded, "no snapshot within the timeout"};
  return {};
}

Status DocSyncClient::edit(std::string_view doc_id, const ot::Op& op) {
  Impl& s = *impl_;
  std::optional<pb::EditRequest> send;
  {
    std::lock_guard lock(s.mu);
    auto it = s.docs.find(doc_id);
    if (it == s.docs.end() || !it->second.opened) return Error::invalid("open the document first");
    auto& d = it->second;
    if (d.error) return *d.error;
    if (s.ended) return *s.ended;
    auto t = ot::apply_text(d.text, op);
    if (!t) return t.error();
    d.text = std::move(*t);
    if (!d.inflight) {
      d.inflight = op;
      d.inflight_seq = ++s.seq;
      send = s.inflight_request(it->first, d);
    } else if (d.pending) {
      auto c = ot::compose(*d.pending, op);
      if (!c) return c.error();
      d.pending = std::move(*c);
    } else {
      d.pending = op;
    }
  }
  // A write to a broken stream is not an error: the op stays in flight and
  // goes again on the next stream (reconnect).
  if (send) s.write(*send);
  return {};
}

Status DocSyncClient::sync(std::string_view doc_id, std::int64_t min_version,
                           std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  auto it = s.docs.find(doc_id);
  if (it == s.docs.end()) return Error::invalid("open the document first");
  auto& d = it->second;
  bool ok = s.cv.wait_for(lock, timeout, [&] {
    return d.error || s.ended || (!d.inflight && !d.pending && d.version >= min_version);
  });
  if (d.error) return *d.error;
  if (s.ended) return *s.ended;  // over for good: the replica no longer follows
  if (!ok) return Error{ErrorCode::kDeadlineExceeded, "not in sync within the timeout"};
  return {};
}

std::string DocSyncClient::text(std::string_view doc_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->docs.find(doc_id);
  return it == impl_->docs.end() ? std::string() : it->second.text;
}

std::int64_t DocSyncClient::version(std::string_view doc_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->docs.find(doc_id);
  return it == impl_->docs.end() ? 0 : it->second.version;
}

bool DocSyncClient::has_pending(std::string_view doc_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->docs.find(doc_id);
  return it != impl_->docs.end() && (it->second.inflight || it->second.pending);
}

void DocSyncClient::on_change(std::function<void(std::string_view)> fn) {
  std::lock_guard lock(impl_->mu);
  impl_->on_change = std::move(fn);
}

std::optional<Error> DocSyncClient::stream_error() const {
  std::lock_guard lock(impl_->mu);
  return impl_->ended;
}

int DocSyncClient::reconnects() const {
  std::lock_guard lock(impl_->mu);
  return impl_->reconnects;
}

}  // namespace office::docs
