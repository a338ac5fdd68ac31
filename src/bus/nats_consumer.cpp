#include "bus/nats_consumer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <mutex>
#include <string>
#include <utility>

#include "core/ids.hpp"

namespace office::bus {

namespace {

using std::chrono::milliseconds;

constexpr std::size_t kMaxBatch = 10000;
constexpr std::string_view kRejectedType = "office.events.v1.Envelope";
constexpr milliseconds kRejectRetry{1000};
// Shortest pull request expiry (libnats asks the server for 10 ms less).
constexpr milliseconds kMinExpiry{20};

struct ConsumerInfoDeleter {
  void operator()(jsConsumerInfo* ci) const { jsConsumerInfo_Destroy(ci); }
};
struct MetaDeleter {
  void operator()(jsMsgMetaData* m) const { jsMsgMetaData_Destroy(m); }
};

// The pull subscription, kept alive by its Consumer and by every delivery
// fetched through it (acknowledging goes through the subscription).
struct PullSub {
  std::shared_ptr<NatsConn> conn;
  natsSubscription* sub = nullptr;
  PullSub(std::shared_ptr<NatsConn> c, natsSubscription* s) : conn(std::move(c)), sub(s) {}
  ~PullSub() { natsSubscription_Destroy(sub); }  // binds only: the durable consumer stays
  PullSub(const PullSub&) = delete;
  PullSub& operator=(const PullSub&) = delete;
};

// Delivery::handle is the natsMsg with this deleter; std::get_deleter tells
// our handles from anybody else's.
struct MsgHandleDeleter {
  std::shared_ptr<PullSub> sub;
  void operator()(void* msg) const { natsMsg_Destroy(static_cast<natsMsg*>(msg)); }
};

Status validate_consumer_options(const ConsumerOptions& o) {
  if (auto st = validate_consumer_name(o.name); !st) return st;
  if (auto st = validate_subject(o.filter, true); !st) {
    return Error::invalid("consumer filter: " + st.error().message);
  }
  if (o.max_in_flight == 0 || o.drop_after.count() <= 0) {
    return Error::invalid("consumer max_in_flight and drop_after must be positive");
  }
  return {};
}

// Creates the durable consumer, or checks and updates it.
Status ensure_consumer(NatsConn& conn, const ConsumerOptions& o) {
  const std::string filter = conn.event_subject(o.filter);
  const std::int64_t ack_wait = nats_nanos(o.drop_after + milliseconds(10'000));
  const std::int64_t max_ack_pending = std::max<std::int64_t>(
      conn.options().max_ack_pending, static_cast<std::int64_t>(o.max_in_flight));
  const char* stream = conn.options().stream.c_str();
  jsOptions jo = conn.js_options();
  for (int attempt = 0; attempt < 2; ++attempt) {
    jsConsumerInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&raw, conn.js(), stream, o.name.c_str(), &jo, &jerr);
    std::unique_ptr<jsConsumerInfo, ConsumerInfoDeleter> ci(raw);
    if (s == NATS_OK) {
      const jsConsumerConfig& have = *ci->Config;
      std::string_view have_filter = have.FilterSubject != nullptr ? have.FilterSubject : "";
      if (have_filter != filter || have.AckPolicy != js_AckExplicit ||
          (have.DeliverSubject != nullptr && *have.DeliverSubject != '\0')) {
        return Error{ErrorCode::kFailedPrecondition,
                     "consumer " + o.name + " exists with filter '" +
                         std::string(conn.strip_prefix(have_filter).value_or(have_filter)) +
                         "', not '" + o.filter + "'"};
      }
      if (have.AckWait == ack_wait && have.MaxAckPending == max_ack_pending &&
          have.MaxDeliver <= 0) {
        return {};
      }
      jsConsumerConfig want = have;  // strings stay owned by ci
      want.AckWait = ack_wait;
      want.MaxAckPending = max_ack_pending;
      want.MaxDeliver = -1;
      s = js_UpdateConsumer(nullptr, conn.js(), stream, &want, &jo, &jerr);
      if (s != NATS_OK) return nats_status_error(s, "nats bus: update consumer " + o.name, jerr);
      return {};
    }
    if (!nats_not_found(s, jerr)) {
      return nats_status_error(s, "nats bus: consumer " + o.name, jerr);
    }
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = o.name.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverNew;
    cc.FilterSubject = filter.c_str();
    cc.AckWait = ack_wait;
    cc.MaxDeliver = -1;  // the bridge dead-letters; JetStream would drop silently
    cc.MaxAckPending = max_ack_pending;
    s = js_AddConsumer(nullptr, conn.js(), stream, &cc, &jo, &jerr);
    if (s == NATS_OK) return {};
    if (attempt == 1) return nats_status_error(s, "nats bus: create consumer " + o.name, jerr);
    // Created by another process in between, perhaps: look again.
  }
  return Error::internal("nats bus: consumer " + o.name);
}

class NatsConsumer final : public Consumer {
 public:
  NatsConsumer(ConsumerOptions options, std::shared_ptr<NatsConn> conn,
               std::shared_ptr<NatsDeadLetters> letters, std::shared_ptr<PullSub> sub)
      : options_(std::move(options)),
        conn_(std::move(conn)),
        letters_(std::move(letters)),
        sub_(std::move(sub)) {}

  const ConsumerOptions& options() const override { return options_; }

  Result<std::vector<Delivery>> fetch(std::size_t max, milliseconds wait) override {
    std::vector<Delivery> out;
    if (max == 0) return out;
    max = std::min(max, kMaxBatch);
    std::vector<NatsMsgPtr> msgs;
    {
      // libnats allows one fetch per subscription at a time.
      std::lock_guard lock(fetch_mu_);
      if (auto st = conn_->check_connected(); !st) return std::move(st).error();
      // One "no_wait with expiry" request: the server hands out what it has
      // (up to max) at once, or else waits up to `wait` for the first
      // message and ends the request when no more are there, so a lone
      // event is not held back until `wait` ends.
      const auto start = std::chrono::steady_clock::now();
      if (auto st = pull(msgs, max, std::max(wait, kMinExpiry), true); !st) {
        return std::move(st).error();
      }
      // It ends at once, empty, when other pullers' requests already cover
      // the pending messages: then wait the rest of `wait` for one message.
      auto left =
          wait - std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
      if (msgs.empty() && left > kMinExpiry) {
        if (auto st = pull(msgs, 1, left, false); !st) return std::move(st).error();
      }
      if (msgs.empty()) {
        if (auto st = conn_->check_connected(); !st) return std::move(st).error();
        return out;
      }
    }
    out.reserve(msgs.size());
    for (auto& m : msgs) {
      jsMsgMetaData* raw_meta = nullptr;
      if (natsMsg_GetMetaData(&raw_meta, m.get()) != NATS_OK) {
        spdlog::warn("nats bus: consumer {}: a message without JetStream metadata", options_.name);
        continue;
      }
      std::unique_ptr<jsMsgMetaData, MetaDeleter> meta(raw_meta);
      auto event =
          decode_event(std::string_view(natsMsg_GetData(m.get()), natsMsg_GetDataLength(m.get())));
      if (event && conn_->strip_prefix(natsMsg_GetSubject(m.get())) != event->subject) {
        event = Error::invalid("the envelope's subject is not the one it was published on");
      }
      if (!event) {
        reject(m.get(), *meta, event.error());
        continue;
      }
      Delivery d;
      d.event = std::make_shared<const Event>(std::move(event).value());
      d.seq = meta->Sequence.Stream;
      d.attempt =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(meta->NumDelivered, UINT32_MAX));
      d.handle = std::shared_ptr<void>(m.release(), MsgHandleDeleter{sub_});
      out.push_back(std::move(d));
    }
    return out;
  }

  Status ack(const Delivery& delivery) override {
    return settle(delivery, "ack", [](natsMsg* m) { return natsMsg_Ack(m, nullptr); });
  }

  Status nak(const Delivery& delivery, milliseconds delay) override {
    return settle(delivery, "nak", [delay](natsMsg* m) {
      return delay.count() > 0 ? natsMsg_NakWithDelay(m, delay.count(), nullptr)
                               : natsMsg_Nak(m, nullptr);
    });
  }

  Status term(const Delivery& delivery) override {
    return settle(delivery, "term", [](natsMsg* m) { return natsMsg_Term(m, nullptr); });
  }

 private:
  // One pull request for up to n messages, expiring after `expires`.
  // Appends what came.
  Status pull(std::vector<NatsMsgPtr>& msgs, std::size_t n, milliseconds expires, bool no_wait) {
    jsFetchRequest req;
    jsFetchRequest_Init(&req);
    req.Batch = static_cast<int>(n);
    req.NoWait = no_wait;
    req.Expires = nats_nanos(expires);
    natsMsgList list{nullptr, 0};
    natsStatus s = natsSubscription_FetchRequest(&list, sub_->sub, &req);
    for (int i = 0; i < list.Count; ++i) {
      msgs.emplace_back(list.Msgs[i]);
      list.Msgs[i] = nullptr;
    }
    natsMsgList_Destroy(&list);
    if (s == NATS_OK || s == NATS_TIMEOUT || s == NATS_NOT_FOUND) return {};
    if (s == NATS_ERR) {
      // A 409 status ("Exceeded MaxAckPending", "Exceeded MaxWaiting"): nothing
      // to hand out now, as for a timeout.
      const char* text = nats_GetLastError(nullptr);
      if (text != nullptr && std::string_view(text).find("Exceeded") != std::string_view::npos) {
        return {};
      }
    }
    return nats_status_error(s, "nats bus: fetch for consumer " + options_.name);
  }

  template <class Fn>
  Status settle(const Delivery& delivery, const char* what, Fn fn) {
    if (delivery.handle == nullptr ||
        std::get_deleter<MsgHandleDeleter>(delivery.handle) == nullptr) {
      return Error::invalid(std::string(what) + ": not a delivery of a NATS consumer");
    }
    natsStatus s = fn(static_cast<natsMsg*>(delivery.handle.get()));
    if (s != NATS_OK) {
      return nats_status_error(s,
                               std::string("nats bus: ") + what + " for consumer " + options_.name);
    }
    return {};
  }

  // A stream message that is no event: keep it as a dead letter, then
  // terminate it (or, if the letter cannot be stored now, have it come back).
  void reject(natsMsg* msg, const jsMsgMetaData& meta, const Error& why) {
    DeadLetter d;
    d.id = new_id();
    d.consumer = options_.name;
    d.reason = std::string(kReasonRejected);
    d.deliveries =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(meta.NumDelivered, UINT32_MAX));
    d.time_ms = std::chrono::duration_cast<milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    Event& e = d.event;
    auto msg_id = Uuid::parse(nats_header(msg, "Nats-Msg-Id"));
    e.id = msg_id ? msg_id->to_string() : new_id();
    e.type = std::string(kRejectedType);
    auto subject = conn_->strip_prefix(natsMsg_GetSubject(msg));
    e.subject = subject && validate_subject(*subject, false) ? std::string(*subject) : "invalid";
    e.occurred_ms = std::max<std::int64_t>(0, meta.Timestamp / 1'000'000);
    std::size_t size = static_cast<std::size_t>(std::max(0, natsMsg_GetDataLength(msg)));
    e.payload.assign(natsMsg_GetData(msg), std::min(size, kMaxPayloadBytes));
    d.detail = why.message;
    if (size > kMaxPayloadBytes) {
      d.detail += " (payload cut from " + std::to_string(size) + " bytes)";
    }
    if (auto st = letters_->add(d); !st) {
      spdlog::warn("nats bus: consumer {}: cannot keep rejected message {} as a dead letter: {}",
                   options_.name, meta.Sequence.Stream, st.error().message);
      natsMsg_NakWithDelay(msg, kRejectRetry.count(), nullptr);
      return;
    }
    spdlog::warn("nats bus: consumer {}: message {} is no event ({}): dead letter {}",
                 options_.name, meta.Sequence.Stream, why.message, d.id);
    natsMsg_Term(msg, nullptr);
  }

  const ConsumerOptions options_;
  const std::shared_ptr<NatsConn> conn_;
  const std::shared_ptr<NatsDeadLetters> letters_;
  const std::shared_ptr<PullSub> sub_;
  std::mutex fetch_mu_;
};

}  // namespace

Result<std::shared_ptr<Consumer>> open_nats_consumer(std::shared_ptr<NatsConn> conn,
                                                     std::shared_ptr<NatsDeadLetters> letters,
                                                     const ConsumerOptions& options) {
  if (auto st = validate_consumer_options(options); !st) return std::move(st).error();
  if (auto st = ensure_consumer(*conn, options); !st) return std::move(st).error();

  jsOptions jo = conn->js_options();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = conn->options().stream.c_str();
  so.Consumer = options.name.c_str();  // bind to the durable created above
  const std::string filter = conn->event_subject(options.filter);
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PullSubscribe(&sub, conn->js(), filter.c_str(), nullptr, &jo, &so, &jerr);
  if (s != NATS_OK) {
    return nats_status_error(s, "nats bus: subscribe consumer " + options.name, jerr);
  }
  auto pull = std::make_shared<PullSub>(conn, sub);
  return std::shared_ptr<Consumer>(std::make_shared<NatsConsumer>(
      options, std::move(conn), std::move(letters), std::move(pull)));
}

Result<std::vector<ConsumerStats>> nats_consumer_stats(NatsConn& conn, NatsDeadLetters& letters) {
  auto counts = letters.counts();
  if (!counts) return std::move(counts).error();
  jsOptions jo = conn.js_options();
  jsConsumerInfoList* list = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_Consumers(&list, conn.js(), conn.options().stream.c_str(), &jo, &jerr);
  std::vector<ConsumerStats> out;
  if (s == NATS_NOT_FOUND) return out;  // no consumer yet
  if (s != NATS_OK) return nats_status_error(s, "nats bus: consumer list", jerr);
  for (int i = 0; i < list->Count; ++i) {
    const jsConsumerInfo* ci = list->List[i];
    if (ci->Config == nullptr || ci->Config->Durable == nullptr) continue;
    ConsumerStats st;
    st.name = ci->Name;
    std::string_view filter = ci->Config->FilterSubject != nullptr ? ci->Config->FilterSubject : "";
    st.filter = std::string(conn.strip_prefix(filter).value_or(filter));
    st.pending = ci->NumPending;
    st.in_flight = static_cast<std::uint64_t>(std::max<std::int64_t>(0, ci->NumAckPending));
    st.redelivered = static_cast<std::uint64_t>(std::max<std::int64_t>(0, ci->NumRedelivered));
    if (auto it = counts->find(st.name); it != counts->end()) st.dead_lettered = it->second;
    out.push_back(std::move(st));
  }
  jsConsumerInfoList_Destroy(list);
  std::sort(out.begin(), out.end(),
            [](const ConsumerStats& a, const ConsumerStats& b) { return a.name < b.name; });
  return out;
}

}  // namespace office::bus
