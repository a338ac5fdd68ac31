#include "bus/nats_bus.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <condition_variable>
#include <exception>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "bus/nats_conn.hpp"
#include "bus/nats_consumer.hpp"
#include "bus/nats_dead_letters.hpp"

namespace office::bus {

namespace {

using Done = std::function<void(Status)>;
using SteadyClock = std::chrono::steady_clock;

void finish(Done& done, Status status) {
  if (!done) return;
  try {
    done(std::move(status));
  } catch (const std::exception& e) {
    spdlog::error("nats bus: a publish callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("nats bus: a publish callback threw");
  }
}

// The status of a JetStream publish acknowledgement.
Status parse_pub_ack(natsMsg* reply) {
  if (natsMsg_IsNoResponders(reply)) {
    return Error::unavailable("nats bus: no JetStream stream took the event (no responders)");
  }
  std::string_view body(natsMsg_GetData(reply), natsMsg_GetDataLength(reply));
  if (body.find("\"error\"") == std::string_view::npos) {
    if (body.find("\"seq\"") != std::string_view::npos) return {};
    return Error::internal("nats bus: unreadable publish acknowledgement");
  }
  auto json = nlohmann::json::parse(body, nullptr, false);
  std::string description = "error";
  int code = 0;
  if (json.is_object() && json.contains("error") && json["error"].is_object()) {
    description = json["error"].value("description", description);
    code = json["error"].value("code", 0);
  }
  if (code == 503) return Error::unavailable("nats bus: JetStream unavailable: " + description);
  return Error::internal("nats bus: JetStream refused the event: " + description);
}

// Publishes to JetStream without waiting: each message carries a reply
// subject of its own (`<inbox>.<n>`) on which the broker's acknowledgement
// comes back to this object's subscription, which runs the message's done.
// Guarantees: every done runs exactly once, on a libnats or this object's
// thread, never on the caller's; at most max_outstanding_publishes are sent
// and unacknowledged; a publish unacknowledged after request_timeout is
// reported kUnavailable (the caller retries; de-duplication by Nats-Msg-Id
// keeps a late-stored one single). Messages published by one thread are
// sent, hence stored, in that order. Thread-safe.
class Publisher {
 public:
  static Result<std::unique_ptr<Publisher>> start(std::shared_ptr<NatsConn> conn) {
    std::unique_ptr<Publisher> p(new Publisher(std::move(conn)));
    natsInbox* inbox = nullptr;
    natsStatus s = natsInbox_Create(&inbox);
    if (s != NATS_OK) return nats_status_error(s, "nats bus: inbox");
    p->inbox_prefix_ = std::string(inbox) + ".";
    natsInbox_Destroy(inbox);
    const std::string wildcard = p->inbox_prefix_ + "*";
    s = natsConnection_Subscribe(&p->sub_, p->conn_->nc(), wildcard.c_str(), on_reply, p.get());
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(p->sub_, -1, -1);  // bounded by us
    if (s == NATS_OK) s = natsSubscription_SetOnCompleteCB(p->sub_, on_complete, p.get());
    if (s != NATS_OK) {
      natsSubscription_Destroy(p->sub_);
      p->sub_ = nullptr;
      return nats_status_error(s, "nats bus: publish acknowledgement subscription");
    }
    p->thread_ = std::thread([raw = p.get()] { raw->run(); });
    return p;
  }

  ~Publisher() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    room_cv_.notify_all();
    work_cv_.notify_all();
    // The thread leaves once every publish was acknowledged or timed out.
    if (thread_.joinable()) thread_.join();
    if (sub_ != nullptr) {
      natsSubscription_Unsubscribe(sub_);
      // Its handler uses `this`: wait until libnats says it will not run again.
      std::unique_lock lock(mu_);
      complete_cv_.wait(lock, [this] { return sub_complete_; });
      lock.unlock();
      natsSubscription_Destroy(sub_);
    }
  }

  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  void publish(const Event& event, const std::string& msg_id, Done done) {
    if (Status st = try_publish(event, msg_id, done); !st) {
      std::lock_guard lock(mu_);
      fail_locked(std::move(done), std::move(st));
    }
  }

  // publish(), except that a refusal at once (invalid, closing, too many
  // waiting) is returned instead, and done is then left to the caller.
  Status try_publish(const Event& event, const std::string& msg_id, Done& done) {
    Status valid = validate_event(event);
    const NatsBusOptions& o = conn_->options();
    std::unique_lock lock(mu_);
    if (outstanding_ >= o.max_outstanding_publishes && !stopping_) {
      ++room_waiters_;
      room_cv_.wait_for(lock, o.publish_stall,
                        [&] { return outstanding_ < o.max_outstanding_publishes || stopping_; });
      --room_waiters_;
    }
    if (stopping_) return Error::unavailable("nats bus: closing");
    if (outstanding_ >= o.max_outstanding_publishes) {
      return Error::exhausted("nats bus: too many publishes waiting for the broker", 1);
    }
    if (!valid) return valid;
    const std::uint64_t id = next_id_++;
    pending_.emplace(id, Pending{std::move(done), SteadyClock::now() + o.request_timeout});
    ++outstanding_;
    lock.unlock();

    natsStatus s = send(event, msg_id, id);
    if (s != NATS_OK) {
      Error e = nats_status_error(s, "nats bus: publish");
      if (e.code != ErrorCode::kInvalidArgument) e.code = ErrorCode::kUnavailable;
      lock.lock();
      if (auto it = pending_.find(id); it != pending_.end()) {
        Done d = std::move(it->second.done);
        pending_.erase(it);
        --outstanding_;  // fail_locked counts it again
        fail_locked(std::move(d), std::move(e));
      }
    }
    return {};
  }

 private:
  struct Pending {
    Done done;
    SteadyClock::time_point deadline;
  };

  explicit Publisher(std::shared_ptr<NatsConn> conn) : conn_(std::move(conn)) {}

  natsStatus send(const Event& event, const std::string& msg_id, std::uint64_t id) {
    const std::string body = encode_event(event);
    const std::string subject = conn_->event_subject(event.subject);
    char reply[128];
    const std::size_t n = std::min(inbox_prefix_.size(), sizeof(reply) - 24);
    std::copy_n(inbox_prefix_.data(), n, reply);
    auto [end, ec] = std::to_chars(reply + n, reply + sizeof(reply) - 1, id);
    *end = '\0';
    natsMsg* raw = nullptr;
    natsStatus s =
        natsMsg_Create(&raw, subject.c_str(), reply, body.data(), static_cast<int>(body.size()));
    NatsMsgPtr msg(raw);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), "Nats-Msg-Id", msg_id.c_str());
    if (s == NATS_OK) s = natsConnection_PublishMsg(conn_->nc(), msg.get());
    return s;
  }

  // Reported on the thread; counted as outstanding until then.
  void fail_locked(Done done, Status status) {
    failures_.emplace_back(std::move(done), std::move(status));
    ++outstanding_;
    work_cv_.notify_one();
  }

  static void on_reply(natsConnection* /*nc*/, natsSubscription* /*sub*/, natsMsg* msg,
                       void* closure) {
    static_cast<Publisher*>(closure)->handle_reply(msg);
    natsMsg_Destroy(msg);
  }

  static void on_complete(void* closure) {
    auto* p = static_cast<Publisher*>(closure);
    std::lock_guard lock(p->mu_);
    p->sub_complete_ = true;
    p->complete_cv_.notify_all();
  }

  void handle_reply(natsMsg* msg) {
    std::string_view subject = natsMsg_GetSubject(msg);
    if (subject.size() <= inbox_prefix_.size()) return;
    std::uint64_t id = 0;
    std::string_view token = subject.substr(inbox_prefix_.size());
    if (std::from_chars(token.data(), token.data() + token.size(), id).ec != std::errc()) return;
    Status status = parse_pub_ack(msg);
    Done done;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(id);
      if (it == pending_.end()) return;  // timed out already
      done = std::move(it->second.done);
      pending_.erase(it);
      --outstanding_;
      if (room_waiters_ > 0) room_cv_.notify_one();
      if (stopping_ && pending_.empty()) work_cv_.notify_one();
    }
    finish(done, std::move(status));
  }

  // Reports the failures queued by publish() and the publishes that timed out.
  void run() {
    std::unique_lock lock(mu_);
    while (true) {
      if (!failures_.empty()) {
        auto batch = std::move(failures_);
        failures_.clear();
        outstanding_ -= batch.size();
        room_cv_.notify_all();
        lock.unlock();
        for (auto& [done, status] : batch) finish(done, std::move(status));
        lock.lock();
        continue;
      }
      std::vector<Done> expired;
      const auto now = SteadyClock::now();
      while (!pending_.empty() && pending_.begin()->second.deadline <= now) {
        expired.push_back(std::move(pending_.begin()->second.done));
        pending_.erase(pending_.begin());
      }
      if (!expired.empty()) {
        outstanding_ -= expired.size();
        room_cv_.notify_all();
        lock.unlock();
        for (auto& done : expired) {
          Error e = Error::unavailable("nats bus: no acknowledgement from the broker in time");
          e.retry_after_s = 1;
          finish(done, std::move(e));
        }
        lock.lock();
        continue;
      }
      if (stopping_ && pending_.empty()) return;
      work_cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }

  const std::shared_ptr<NatsConn> conn_;
  std::string inbox_prefix_;  // "_INBOX.<nuid>."
  natsSubscription* sub_ = nullptr;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable room_cv_;           // outstanding_ went down
  std::condition_variable work_cv_;           // failures_ or stopping_
  std::condition_variable complete_cv_;       // sub_complete_
  std::map<std::uint64_t, Pending> pending_;  // by id: oldest (first deadline) first
  std::vector<std::pair<Done, Status>> failures_;
  std::size_t outstanding_ = 0;  // pending_ + failures_
  std::size_t room_waiters_ = 0;
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
  bool sub_complete_ = false;
};

class NatsBus final : public EventBus {
 public:
  NatsBus(std::shared_ptr<NatsConn> conn, std::shared_ptr<NatsDeadLetters> letters,
          std::unique_ptr<Publisher> publisher)
      : conn_(std::move(conn)), letters_(std::move(letters)), publisher_(std::move(publisher)) {}

  std::string_view backend() const override { return "nats"; }
  bool durable() const override { return true; }

  Status publish(const Event& event) override { return publish_with_id(event, event.id); }

  void publish_async(Event event, std::function<void(Status)> done) override {
    publisher_->publish(event, event.id, std::move(done));
  }
  std::size_t publish_async_many(std::span<Outgoing> batch) override {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (Status st = publisher_->try_publish(batch[i].event, batch[i].event.id, batch[i].done);
          !st) {
        if (batch[i].done) batch[i].done(std::move(st));
        return i;
      }
    }
    return batch.size();
  }

  Result<std::shared_ptr<Consumer>> consumer(const ConsumerOptions& options) override {
    return open_nats_consumer(conn_, letters_, options);
  }

  Result<std::vector<ConsumerStats>> stats() override {
    return nats_consumer_stats(*conn_, *letters_);
  }

  Status add_dead_letter(const DeadLetter& letter) override { return letters_->add(letter); }
  Result<DeadLetterPage> dead_letters(const DeadLetterQuery& query) override {
    return letters_->list(query);
  }
  Result<DeadLetter> dead_letter(std::string_view id) override { return letters_->get(id); }
  Status remove_dead_letter(std::string_view id) override { return letters_->remove(id); }
  Result<std::uint64_t> purge_dead_letters(std::string_view consumer) override {
    return letters_->purge(consumer);
  }

  Result<std::string> replay_dead_letter(std::string_view id) override {
    auto found = letters_->find(id);
    if (!found) return std::move(found).error();
    // Not the event id: the broker would take it for a duplicate within the
    // window. The letter's id makes a second replay of it a duplicate.
    if (auto st = publish_with_id(found->letter.event, "replay-" + found->letter.id); !st) {
      return std::move(st).error();
    }
    if (auto st = letters_->remove_at(found->seq, id);
        !st && st.error().code != ErrorCode::kNotFound) {
      return std::move(st).error();
    }
    return found->letter.event.id;
  }

 private:
  Status publish_with_id(const Event& event, const std::string& msg_id) {
    std::promise<Status> done;
    auto result = done.get_future();
    publisher_->publish(event, msg_id, [&done](Status st) { done.set_value(std::move(st)); });
    return result.get();
  }

  // Destroyed in reverse: the publisher first (it waits for its acknowledgements).
  std::shared_ptr<NatsConn> conn_;
  std::shared_ptr<NatsDeadLetters> letters_;
  std::unique_ptr<Publisher> publisher_;
};

}  // namespace

Result<std::unique_ptr<EventBus>> open_nats_bus(const NatsBusOptions& options) {
  auto conn = NatsConn::connect(options);
  if (!conn) return std::move(conn).error();
  auto publisher = Publisher::start(*conn);
  if (!publisher) return std::move(publisher).error();
  auto letters = std::make_shared<NatsDeadLetters>(*conn);
  return std::unique_ptr<EventBus>(std::make_unique<NatsBus>(
      std::move(conn).value(), std::move(letters), std::move(publisher).value()));
}

}  // namespace office::bus
