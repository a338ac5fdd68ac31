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

}  // namespace

struct DocSyncClient::Impl {
  Options options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::DocSync::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<pb::EditRequest, pb::EditResponse>> stream;
  std::thread reader;
  std::mutex write_mu;  // one Write at a time

  // A document as the client sees it: the server's version plus its own
  // unacknowledged edits (in flight, then waiting), already in `text`.
  struct Replica {
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
  std::function<void(std::string_view)> on_change;

  bool write(const pb::EditRequest& r) {
    std::lock_guard lock(write_mu);
    return stream->Write(r);
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
    pb::EditResponse resp;
    while (stream->Read(&resp)) {
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
    grpc::Status st = stream->Finish();
    std::lock_guard lock(mu);
    ended = error_from(st);
    cv.notify_all();
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
        d.version = resp.ack().version() + 1;
        d.inflight.reset();
        if (d.pending) {
          d.inflight = std::move(d.pending);
          d.pending.reset();
          d.inflight_seq = ++seq;
          next = inflight_request(it->first, d);
        }
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
  if (impl_->stream) {
    {
      std::lock_guard lock(impl_->write_mu);
      impl_->stream->WritesDone();
    }
    // The server answers what is in flight and ends the stream; a server
    // that does not gets cancelled.
    std::unique_lock lock(impl_->mu);
    if (!impl_->cv.wait_for(lock, impl_->options.timeout, [&] { return impl_->ended.has_value(); }))
      impl_->ctx.TryCancel();
  }
  if (impl_->reader.joinable()) impl_->reader.join();
}

Result<std::unique_ptr<DocSyncClient>> DocSyncClient::connect(const Options& options) {
  std::unique_ptr<DocSyncClient> c(new DocSyncClient());
  Impl& s = *c->impl_;
  s.options = options;
  s.channel = grpc::CreateChannel(options.target, grpc::InsecureChannelCredentials());
  if (!s.channel->WaitForConnected(std::chrono::system_clock::now() + options.timeout))
    return Error::unavailable("cannot reach " + options.target);
  s.stub = pb::DocSync::NewStub(s.channel);
  s.ctx.AddMetadata("authorization", "Bearer " + options.access_token);
  if (!options.traceparent.empty()) s.ctx.AddMetadata("traceparent", options.traceparent);
  s.stream = s.stub->SyncStream(&s.ctx);
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
  }
  pb::EditRequest r;
  r.set_doc_id(std::string(doc_id));
  r.set_client_id(s.options.client_id);
  r.set_subscribe(true);
  if (!s.write(r)) return Error::unavailable("stream closed");
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
  if (send && !s.write(*send)) return Error::unavailable("stream closed");
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
  if (s.ended && (d.inflight || d.pending || d.version < min_version)) return *s.ended;
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

}  // namespace office::docs
