#include "bus/bridge.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/executor.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"

namespace office::bus {

namespace {

using Steady = std::chrono::steady_clock;

bool retryable(ErrorCode code) {
  switch (code) {
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kConflict:
    case ErrorCode::kInternal:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct Bridge::Impl : std::enable_shared_from_this<Bridge::Impl> {
  Impl(EventBus& b, std::shared_ptr<Consumer> c, Handler h)
      : bus(b),
        consumer(std::move(c)),
        handler(std::move(h)),
        opts(consumer->options()),
        pool(ThreadPoolOptions{"bus-" + opts.name.substr(0, 10),
                               static_cast<unsigned>(std::max<std::size_t>(1, opts.lanes)),
                               opts.max_in_flight + opts.lanes + 1}) {
    for (std::size_t i = 0; i < std::max<std::size_t>(1, opts.lanes); ++i) {
      lanes.push_back(std::make_unique<SerialExecutor>(pool, opts.max_in_flight + 1));
    }
  }

  struct Held {
    Delivery delivery;
    std::uint32_t attempt = 1;  // handler calls, this one included
    bool finishing = false;     // its outcome is being settled: drop_after leaves it alone
    // When its handler started (max: not yet). A running handler is given
    // up only once it has itself run past drop_after (it hangs), so that an
    // event handled just before its deadline is not dead-lettered as well.
    Steady::time_point started = Steady::time_point::max();
  };
  // What the bridge remembers of an event between its deliveries (lost on a
  // restart, which only makes its limits start again: never earlier).
  struct Seen {
    Steady::time_point first;   // its first delivery to this bridge
    std::uint32_t skipped = 0;  // deliveries nak'd without calling the handler
    std::uint32_t busy = 0;     // handler calls that said kResourceExhausted
  };
  static constexpr std::size_t kMaxSeen = 100'000;

  EventBus& bus;
  std::shared_ptr<Consumer> consumer;
  Handler handler;
  const ConsumerOptions opts;
  ThreadPool pool;
  std::vector<std::unique_ptr<SerialExecutor>> lanes;
  std::thread puller;
  std::atomic<bool> running{false};
  std::atomic<bool> stopping{false};

  mutable std::mutex mu;
  std::condition_variable room;                  // a delivery finished
  std::unordered_map<std::uint64_t, Held> held;  // by seq
  // Handled, not yet acknowledged to the bus: acknowledged together (one
  // ack_many) when their lane has nothing queued, every kAckBatch, and by
  // the puller's loop and stop() for what is left.
  std::vector<Delivery> to_ack;
  static constexpr std::size_t kAckBatch = 64;
  std::unordered_map<std::uint64_t, Seen> seen;  // by seq
  std::deque<std::uint64_t> seen_order;          // insertion order, to bound `seen`
  // Subject -> every event of it that this bridge nak'd and expects back
  // (seq -> when its redelivery is due; max while its handler runs). A later
  // event of the subject is nak'd to come back just after them, whether they
  // failed or were themselves nak'd to wait: the broker may redeliver nak'd
  // events in any order. An entry goes when its event is finished, or once
  // it is overdue by stale_after() (redelivered to another bridge sharing the
  // consumer, or gone from the bus), which costs order, never the event.
  std::unordered_map<std::string, std::map<std::uint64_t, Steady::time_point>> waiting;
  Steady::time_point last_sweep;
  Stats counters;
  bool paused = false;

  std::size_t resume_threshold() const { return pause_threshold() / 2; }
  std::size_t pause_threshold() const {
    auto t = static_cast<std::size_t>(static_cast<double>(opts.max_in_flight) * opts.pause_at);
    return std::clamp<std::size_t>(t, 1, opts.max_in_flight);
  }

  // Under mu.
  Seen& seen_for(std::uint64_t seq, Steady::time_point now) {
    auto [it, inserted] = seen.try_emplace(seq);
    if (inserted) {
      it->second.first = now;
      seen_order.push_back(seq);
      while (seen_order.size() > kMaxSeen) {
        if (seen_order.front() != seq && held.count(seen_order.front()) == 0) {
          seen.erase(seen_order.front());
        }
        seen_order.pop_front();
      }
    }
    return it->second;
  }
  // Under mu: the event is finished (acknowledged or dead-lettered).
  void forget(const Delivery& d) {
    seen.erase(d.seq);
    auto w = waiting.find(d.event->subject);
    if (w == waiting.end()) return;
    w->second.erase(d.seq);
    if (w->second.empty()) waiting.erase(w);
  }

  std::chrono::milliseconds stale_after() const {
    auto s = std::max<std::chrono::milliseconds>(opts.nak_delay * 5, std::chrono::seconds(1));
    return std::min(
        s, std::max<std::chrono::milliseconds>(opts.drop_after / 4, std::chrono::milliseconds(10)));
  }

  // Under mu: the event was nak'd; it is expected back at `due`.
  void await(const Delivery& d, Steady::time_point due) { waiting[d.event->subject][d.seq] = due; }

  // Under mu: when the last of the subject's earlier events that are still
  // expected back is due, or nullopt when none is (the event may run).
  std::optional<Steady::time_point> earlier_due(const Delivery& d, Steady::time_point now) {
    auto w = waiting.find(d.event->subject);
    if (w == waiting.end()) return std::nullopt;
    std::optional<Steady::time_point> last;
    auto& seqs = w->second;
    for (auto it = seqs.begin(); it != seqs.end() && it->first < d.seq;) {
      if (it->second != Steady::time_point::max() && now - it->second > stale_after()) {
        it = seqs.erase(it);
        continue;
      }
      last = last ? std::max(*last, it->second) : it->second;
      ++it;
    }
    if (seqs.empty()) waiting.erase(w);
    return last;
  }

  // Under mu: the event's handler is about to run; while it does, later
  // events of its subject keep waiting if it was expected back.
  void mark_running(const Delivery& d) {
    auto w = waiting.find(d.event->subject);
    if (w == waiting.end()) return;
    auto it = w->second.find(d.seq);
    if (it != w->second.end()) it->second = Steady::time_point::max();
  }

  void run() {
    while (!stopping.load()) {
      expire();
      // What the lanes left unacknowledged (e.g. while paused, or when the
      // last event of a lane's task was given up by drop_after).
      flush_acks();
      std::size_t want = 0;
      {
        std::unique_lock lock(mu);
        // Paused at pause_threshold(), it pulls again once half of that is
        // free, not at the first free slot: one wake-up per many events.
        if (held.size() >= pause_threshold() || (paused && held.size() > resume_threshold())) {
          if (!paused) {
            paused = true;
            ++counters.pauses;
          }
          room.wait_for(lock, std::chrono::milliseconds(50));
          continue;
        }
        paused = false;
        want = opts.max_in_flight - held.size();
      }
      auto got = consumer->fetch(want, std::chrono::milliseconds(100));
      if (!got) {
        spdlog::warn("bus consumer {}: fetch failed: {}", opts.name, got.error().message);
        std::unique_lock lock(mu);
        room.wait_for(lock, std::chrono::milliseconds(250), [&] { return stopping.load(); });
        continue;
      }
      std::vector<std::vector<std::uint64_t>> per_lane(lanes.size());
      for (const Delivery& d : *got) dispatch(d, per_lane);
      post(per_lane);
    }
  }

  void nak(const Delivery& d, std::chrono::milliseconds delay) {
    if (auto st = consumer->nak(d, delay); !st) {
      spdlog::warn("bus consumer {}: nak of {} failed: {}", opts.name, d.seq, st.error().message);
    }
  }

  std::string late_detail(std::uint32_t attempts) const {
    return "not handled within " + std::to_string(opts.drop_after.count()) +
           " ms of its first delivery (" + std::to_string(attempts) + " handler calls)";
  }

  // The nak delay of an event that must wait for earlier events of its
  // subject: until just after the last of them is due again.
  std::chrono::milliseconds follow_delay(Steady::time_point due, Steady::time_point now) const {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - now);
    return std::clamp(wait + std::chrono::milliseconds(10), std::chrono::milliseconds(10),
                      std::max(opts.nak_delay, std::chrono::milliseconds(10)));
  }

  // Posts each lane's share of a fetch as one task (in fetch order).
  void post(std::vector<std::vector<std::uint64_t>>& per_lane) {
    auto self = shared_from_this();
    for (std::size_t lane = 0; lane < per_lane.size(); ++lane) {
      if (per_lane[lane].empty()) continue;
      std::vector<std::uint64_t> seqs = per_lane[lane];
      if (lanes[lane]->try_post([self, seqs = std::move(per_lane[lane])] {
            for (std::size_t i = 0; i < seqs.size(); ++i)
              self->handle(seqs[i], i + 1 == seqs.size());
          })) {
        continue;
      }
      for (std::uint64_t seq : seqs) {
        Delivery d;
        {
          std::lock_guard lock(mu);
          auto it = held.find(seq);
          if (it == held.end()) continue;
          d = it->second.delivery;
          held.erase(it);
          ++counters.nakd;
          auto s = seen.find(seq);
          if (s != seen.end()) ++s->second.skipped;
          await(d, Steady::now() + opts.nak_delay);
        }
        nak(d, opts.nak_delay);
      }
    }
  }

  // Settles what it can at once (nak, drop_after); what is to be handled
  // goes to its lane's list in per_lane.
  void dispatch(const Delivery& d, std::vector<std::vector<std::uint64_t>>& per_lane) {
    const std::uint64_t seq = d.seq;
    std::chrono::milliseconds delay = opts.nak_delay;
    const std::size_t lane = std::hash<std::string>{}(d.event->subject) % lanes.size();
    enum class Action { kPost, kNak, kLate } action = Action::kNak;
    std::uint32_t attempt = 1;
    {
      std::lock_guard lock(mu);
      ++counters.delivered;
      if (d.attempt > 1) ++counters.redelivered;
      if (held.count(seq) != 0) return;  // already being handled: its outcome settles it
      auto now = Steady::now();
      Seen& s = seen_for(seq, now);
      attempt = d.attempt > s.skipped ? d.attempt - s.skipped : 1;
      auto earlier = earlier_due(d, now);
      bool out_of_order = earlier.has_value();
      if (out_of_order) delay = follow_delay(*earlier, now);
      if (now - s.first > opts.drop_after && !stopping.load()) {
        action = Action::kLate;
        held.emplace(seq, Held{d, attempt, true});
      } else if (held.size() < opts.max_in_flight && !out_of_order && !stopping.load()) {
        action = Action::kPost;
        held.emplace(seq, Held{d, attempt, false});
        mark_running(d);
        counters.max_in_flight_seen =
            std::max<std::uint64_t>(counters.max_in_flight_seen, held.size());
      } else {
        ++s.skipped;
        ++counters.nakd;
        await(d, now + delay);
      }
    }
    if (action == Action::kLate) {
      bool kept =
          dead_letter(d, std::string(kReasonDropAfter), late_detail(attempt - 1), attempt - 1);
      std::unique_lock lock(mu);
      held.erase(seq);
      if (kept) {
        forget(d);
      } else {
        ++counters.nakd;
        await(d, Steady::now() + delay);
      }
      room.notify_all();
      if (kept) {
        lock.unlock();
        terminate(d);
        return;
      }
      action = Action::kNak;
    }
    if (action == Action::kPost) {
      per_lane[lane].push_back(seq);
      return;
    }
    nak(d, delay);
  }

  // last: the last of its task's events (acknowledgements are flushed
  // after it when the lane has nothing queued).
  void handle(std::uint64_t seq, bool last) {
    Delivery d;
    std::uint32_t attempt = 1;
    bool requeue = false;
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard lock(mu);
      auto it = held.find(seq);
      if (it == held.end() || it->second.finishing) return;
      d = it->second.delivery;
      attempt = it->second.attempt;
      auto now = Steady::now();
      auto earlier = stopping.load() ? std::nullopt : earlier_due(d, now);
      if (stopping.load() || earlier) {
        if (earlier) delay = follow_delay(*earlier, now);
        await(d, now + delay);
        held.erase(it);
        ++counters.nakd;
        auto s = seen.find(seq);
        if (s != seen.end()) ++s->second.skipped;
        room.notify_all();
        requeue = true;
      } else {
        it->second.started = Steady::now();
      }
    }
    if (requeue) {
      nak(d, delay);
      if (last && lane_of(d).queued() == 0) flush_acks();
      return;
    }
    Status result;
    try {
      ScopedTraceOf trace(d.event->traceparent);
      result = handler(*d.event, DeliveryInfo{d.seq, attempt});
    } catch (const std::exception& e) {
      result = Error::internal(std::string("handler threw: ") + e.what());
    } catch (...) {
      result = Error::internal("handler threw");
    }
    finish(d, attempt, result, last);
  }

  // Marks the trace id of the event's request on this thread's log lines.
  struct ScopedTraceOf {
    explicit ScopedTraceOf(const std::string& traceparent)
        : trace(traceparent.size() == 55 ? std::string_view(traceparent).substr(3, 32)
                                         : std::string_view()) {}
    log::ScopedTrace trace;
  };

  void finish(const Delivery& d, std::uint32_t attempt, const Status& result, bool last) {
    std::uint32_t busy = 0;
    {
      std::lock_guard lock(mu);
      auto it = held.find(d.seq);
      // drop_after dead-lettered it meanwhile (or is doing so).
      if (it == held.end() || it->second.finishing) return;
      it->second.finishing = true;
      auto s = seen.find(d.seq);
      if (s != seen.end()) busy = s->second.busy;
    }
    enum class Outcome { kAck, kNak, kBusy, kDead } outcome = Outcome::kAck;
    std::string reason;
    std::chrono::milliseconds delay = opts.nak_delay;
    if (!result.ok()) {
      const Error& e = result.error();
      if (e.retry_after_s > 0) delay = std::chrono::seconds(e.retry_after_s);
      if (!retryable(e.code)) {
        outcome = Outcome::kDead;
        reason = std::string(kReasonRejected);
      } else if (e.code == ErrorCode::kResourceExhausted) {
        outcome = Outcome::kBusy;  // back-pressure: bounded by drop_after, not max_deliver
      } else if (attempt - std::min(attempt, busy) >= opts.max_deliver) {
        outcome = Outcome::kDead;
        reason = std::string(kReasonMaxDeliver);
      } else {
        outcome = Outcome::kNak;
      }
    }
    if (outcome == Outcome::kDead) {
      if (!dead_letter(d, reason, result.error().message, attempt)) outcome = Outcome::kNak;
    }
    // The bridge's state first, then the broker: a redelivery (or the next
    // event of the subject) may arrive as soon as the broker hears of it.
    const bool lane_idle = last && lane_of(d).queued() == 0;
    bool flush = false;
    bool wake = false;
    {
      std::lock_guard lock(mu);
      held.erase(d.seq);
      wake = paused && held.size() <= resume_threshold();
      if (outcome == Outcome::kNak || outcome == Outcome::kBusy) {
        ++counters.nakd;
        auto s = seen.find(d.seq);
        if (s != seen.end() && outcome == Outcome::kBusy) ++s->second.busy;
        await(d, Steady::now() + delay);
      } else {
        if (outcome == Outcome::kAck) {
          ++counters.acked;
          to_ack.push_back(d);
          flush = lane_idle || to_ack.size() >= kAckBatch;
        }
        forget(d);
      }
    }
    if (outcome == Outcome::kAck) {
      if (flush) flush_acks();
    } else if (outcome == Outcome::kDead) {
      terminate(d);
    } else if (outcome == Outcome::kNak || outcome == Outcome::kBusy) {
      nak(d, delay);
    }
    if (wake) room.notify_all();
  }

  SerialExecutor& lane_of(const Delivery& d) {
    return *lanes[std::hash<std::string>{}(d.event->subject) % lanes.size()];
  }

  void flush_acks() {
    std::vector<Delivery> batch;
    {
      std::lock_guard lock(mu);
      if (to_ack.empty()) return;
      batch.swap(to_ack);
    }
    if (auto st = consumer->ack_many(batch); !st) {
      spdlog::warn("bus consumer {}: acknowledging {} events failed: {}", opts.name, batch.size(),
                   st.error().message);
    }
  }

  // Keeps the dead letter; the caller then forgets the event and terminates
  // the delivery. False when it could not be kept (the caller naks instead).
  bool dead_letter(const Delivery& d, const std::string& reason, const std::string& detail,
                   std::uint32_t attempts) {
    DeadLetter letter;
    letter.id = new_id();
    letter.event = *d.event;
    letter.consumer = opts.name;
    letter.reason = reason;
    letter.detail = detail.substr(0, 1000);
    letter.deliveries = attempts;
    letter.time_ms = SystemClock::instance().now_ms();
    if (auto st = bus.add_dead_letter(letter); !st) {
      spdlog::error("bus consumer {}: cannot keep dead letter for event {}: {}", opts.name,
                    d.event->id, st.error().message);
      return false;
    }
    spdlog::warn("bus consumer {}: event {} ({}) dead-lettered: {} after {} handler calls: {}",
                 opts.name, d.event->id, d.event->type, reason, attempts,
                 log::Escaped{letter.detail});
    {
      std::lock_guard lock(mu);
      ++counters.dead_lettered;
    }
    return true;
  }

  // After dead_letter() kept it and the bridge forgot it.
  void terminate(const Delivery& d) {
    if (auto st = consumer->term(d); !st) {
      spdlog::warn("bus consumer {}: term of {} failed: {}", opts.name, d.seq, st.error().message);
    }
  }

  // Under mu, about once a second: drops the overdue entries of `waiting`
  // (of subjects that see no later event to prune them).
  void sweep_waiting(Steady::time_point now) {
    if (now - last_sweep < std::chrono::seconds(1)) return;
    last_sweep = now;
    for (auto w = waiting.begin(); w != waiting.end();) {
      std::erase_if(w->second, [&](const auto& e) {
        return e.second != Steady::time_point::max() && now - e.second > stale_after();
      });
      w = w->second.empty() ? waiting.erase(w) : std::next(w);
    }
  }

  // Dead-letters held deliveries past drop_after (their handler hangs).
  void expire() {
    std::vector<std::pair<Delivery, std::uint32_t>> late;
    auto now = Steady::now();
    {
      std::lock_guard lock(mu);
      sweep_waiting(now);
      for (auto& [seq, h] : held) {
        auto s = seen.find(seq);
        if (h.finishing || s == seen.end() || now - s->second.first <= opts.drop_after) continue;
        if (h.started != Steady::time_point::max() && now - h.started <= opts.drop_after) continue;
        h.finishing = true;
        late.emplace_back(h.delivery, h.attempt);
      }
    }
    for (const auto& [d, attempt] : late) {
      bool kept = dead_letter(d, std::string(kReasonDropAfter), late_detail(attempt), attempt);
      {
        std::lock_guard lock(mu);
        if (!kept) {  // tried again next round
          auto it = held.find(d.seq);
          if (it != held.end()) it->second.finishing = false;
          continue;
        }
        // The slot is free again even though the handler's thread is still
        // busy; its outcome is ignored (finish() no longer finds it).
        held.erase(d.seq);
        forget(d);
        room.notify_all();
      }
      terminate(d);
    }
  }
};

Bridge::Bridge(EventBus& bus, std::shared_ptr<Consumer> consumer, Handler handler)
    : impl_(std::make_shared<Impl>(bus, std::move(consumer), std::move(handler))) {}

Bridge::~Bridge() { stop(); }

void Bridge::start() {
  if (impl_->running.exchange(true)) return;
  impl_->puller = std::thread([impl = impl_] { impl->run(); });
}

void Bridge::stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->room.notify_all();
  if (impl_->puller.joinable()) impl_->puller.join();
  impl_->pool.shutdown();  // runs what was queued (each naks itself), joins running handlers
  impl_->flush_acks();
}

Bridge::Stats Bridge::stats() const {
  std::lock_guard lock(impl_->mu);
  Stats s = impl_->counters;
  s.in_flight = impl_->held.size();
  return s;
}

}  // namespace office::bus
