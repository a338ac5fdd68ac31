#include "bus/inproc_bus.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bus/dead_letters.hpp"
#include "core/ids.hpp"

namespace office::bus {

namespace {

using Steady = std::chrono::steady_clock;
using Done = std::function<void(Status)>;

// At most this many durable consumers: an event records the ones that
// matched it at publish time in a 64-bit mask.
constexpr std::size_t kMaxDurables = 64;

struct Entry {
  Event event;
  std::uint64_t owed = 0;  // mask of durables that still owe an ack or a term
  Done done;               // runs once owed is 0
};

struct Pending {
  std::uint32_t attempt = 1;
  bool nakd = false;       // waiting for its redelivery time
  Steady::time_point due;  // nakd: redeliver at; else: the ack wait ends
};

struct Durable {
  ConsumerOptions options;
  std::size_t index = 0;     // bit in Entry::owed
  std::uint64_t cursor = 0;  // next seq to consider for a first delivery
  std::unordered_map<std::uint64_t, Pending> pending;
  Steady::time_point next_due = Steady::time_point::max();
  std::uint64_t redeliveries = 0;
};

struct State {
  explicit State(const InprocBusOptions& o) : options(o) {}
  const InprocBusOptions options;
  std::mutex mu;
  std::condition_variable changed;  // a publish, a nak, a settle
  std::deque<Entry> log;            // seq = base + index
  std::uint64_t base = 1;
  std::vector<std::unique_ptr<Durable>> durables;
  // De-duplication window: hash of an event id -> its seq.
  std::unordered_map<std::uint64_t, std::uint64_t> recent;
  std::deque<std::uint64_t> recent_order;

  std::uint64_t end() const { return base + log.size(); }

  std::chrono::milliseconds ack_wait(const Durable& d) const {
    if (options.ack_wait.count() > 0) return options.ack_wait;
    return d.options.drop_after + std::chrono::seconds(10);
  }

  // Marks seq settled for durable d; collects the done callbacks to run
  // (outside the lock) and trims the settled head of the log.
  void settle(const Durable& d, std::uint64_t seq, std::vector<Done>& ready) {
    if (seq < base || seq >= end()) return;
    Entry& e = log[seq - base];
    const std::uint64_t bit = std::uint64_t{1} << d.index;
    if ((e.owed & bit) == 0) return;
    e.owed &= ~bit;
    if (e.owed == 0 && e.done) ready.push_back(std::move(e.done));
    bool trimmed = false;
    while (!log.empty() && log.front().owed == 0) {
      log.pop_front();
      ++base;
      trimmed = true;
    }
    if (trimmed) changed.notify_all();  // publishers waiting for room
  }
};

void run_all(std::vector<Done>& dones, const Status& st) {
  for (auto& d : dones) {
    if (d) d(st);
  }
}

class InprocConsumer final : public Consumer {
 public:
  InprocConsumer(std::shared_ptr<State> state, Durable* durable)
      : state_(std::move(state)), d_(durable) {}

  const ConsumerOptions& options() const override { return d_->options; }

  Result<std::vector<Delivery>> fetch(std::size_t max, std::chrono::milliseconds wait) override {
    std::vector<Delivery> out;
    if (max == 0) return out;
    const auto until = Steady::now() + wait;
    std::unique_lock lock(state_->mu);
    while (true) {
      collect(max, out);
      if (!out.empty()) return out;
      auto now = Steady::now();
      if (now >= until) return out;
      state_->changed.wait_until(lock, std::min(until, d_->next_due));
    }
  }

  Status ack(const Delivery& delivery) override { return finish(delivery); }
  Status term(const Delivery& delivery) override { return finish(delivery); }

  Status nak(const Delivery& delivery, std::chrono::milliseconds delay) override {
    std::lock_guard lock(state_->mu);
    auto it = d_->pending.find(delivery.seq);
    if (it == d_->pending.end() || it->second.nakd) return {};
    it->second.nakd = true;
    it->second.due = Steady::now() + std::max(delay, std::chrono::milliseconds(0));
    d_->next_due = std::min(d_->next_due, it->second.due);
    state_->changed.notify_all();
    return {};
  }

 private:
  // Under the lock: redeliveries that are due (in seq order), then first
  // deliveries from the cursor, up to max (and the ack-pending limit).
  void collect(std::size_t max, std::vector<Delivery>& out) {
    State& s = *state_;
    const std::size_t ack_pending_limit =
        std::max<std::size_t>(1000, 10 * d_->options.max_in_flight);
    auto now = Steady::now();
    if (now >= d_->next_due) {
      std::vector<std::uint64_t> due;
      Steady::time_point next = Steady::time_point::max();
      for (auto& [seq, p] : d_->pending) {
        if (p.due <= now) {
          due.push_back(seq);
        } else {
          next = std::min(next, p.due);
        }
      }
      std::sort(due.begin(), due.end());
      for (std::uint64_t seq : due) {
        Pending& p = d_->pending[seq];
        if (out.size() == max || seq < s.base) {
          next = std::min(next, p.due);
          continue;
        }
        ++p.attempt;
        p.nakd = false;
        p.due = now + s.ack_wait(*d_);
        next = std::min(next, p.due);
        ++d_->redeliveries;
        out.push_back(Delivery{s.log[seq - s.base].event, seq, p.attempt, nullptr});
      }
      d_->next_due = next;
    }
    if (d_->cursor < s.base) d_->cursor = s.base;
    const std::uint64_t bit = std::uint64_t{1} << d_->index;
    while (out.size() < max && d_->cursor < s.end() && d_->pending.size() < ack_pending_limit) {
      std::uint64_t seq = d_->cursor++;
      const Entry& e = s.log[seq - s.base];
      if ((e.owed & bit) == 0) continue;  // not for this consumer (or settled)
      Pending p;
      p.due = now + s.ack_wait(*d_);
      d_->next_due = std::min(d_->next_due, p.due);
      d_->pending.emplace(seq, p);
      out.push_back(Delivery{e.event, seq, 1, nullptr});
    }
  }

  Status finish(const Delivery& delivery) {
    std::vector<Done> ready;
    {
      std::lock_guard lock(state_->mu);
      if (d_->pending.erase(delivery.seq) == 0) return {};
      state_->settle(*d_, delivery.seq, ready);
    }
    run_all(ready, Status{});
    return {};
  }

  std::shared_ptr<State> state_;
  Durable* d_;  // owned by state_
};

class InprocBus final : public EventBus {
 public:
  explicit InprocBus(const InprocBusOptions& options)
      : state_(std::make_shared<State>(options)),
        letters_(options.dead_letters != nullptr ? sql_dead_letters(*options.dead_letters)
                                                 : memory_dead_letters()) {}

  std::string_view backend() const override { return "inproc"; }
  bool durable() const override { return false; }

  Status publish(const Event& event) override { return enqueue(event, nullptr, true); }

  void publish_async(Event event, Done done) override {
    Status st = enqueue(std::move(event), done, false);
    if (!st && done) done(st);
  }

  Result<std::shared_ptr<Consumer>> consumer(const ConsumerOptions& options) override {
    if (auto st = validate_consumer_name(options.name); !st) return std::move(st).error();
    if (auto st = validate_subject(options.filter, true); !st) {
      return Error::invalid("consumer filter: " + st.error().message);
    }
    std::lock_guard lock(state_->mu);
    for (auto& d : state_->durables) {
      if (d->options.name != options.name) continue;
      if (d->options.filter != options.filter) {
        return Error{ErrorCode::kFailedPrecondition,
                     "consumer " + options.name + " exists with filter " + d->options.filter};
      }
      return std::shared_ptr<Consumer>(std::make_shared<InprocConsumer>(state_, d.get()));
    }
    if (state_->durables.size() == kMaxDurables) {
      return Error::exhausted("the in-process bus holds at most 64 durable consumers", 0);
    }
    auto d = std::make_unique<Durable>();
    d->options = options;
    d->index = state_->durables.size();
    d->cursor = state_->end();
    Durable* raw = d.get();
    state_->durables.push_back(std::move(d));
    return std::shared_ptr<Consumer>(std::make_shared<InprocConsumer>(state_, raw));
  }

  Result<std::vector<ConsumerStats>> stats() override {
    std::vector<ConsumerStats> out;
    {
      std::lock_guard lock(state_->mu);
      for (auto& d : state_->durables) {
        ConsumerStats c;
        c.name = d->options.name;
        c.filter = d->options.filter;
        const std::uint64_t bit = std::uint64_t{1} << d->index;
        for (std::uint64_t seq = std::max(d->cursor, state_->base); seq < state_->end(); ++seq) {
          if ((state_->log[seq - state_->base].owed & bit) != 0) ++c.pending;
        }
        for (auto& [seq, p] : d->pending) {
          if (p.nakd) {
            ++c.pending;
          } else {
            ++c.in_flight;
          }
        }
        c.redelivered = d->redeliveries;
        out.push_back(std::move(c));
      }
    }
    for (auto& c : out) {
      auto n = letters_->count(c.name);
      if (!n) return n.error();
      c.dead_lettered = *n;
    }
    return out;
  }

  Status add_dead_letter(const DeadLetter& letter) override { return letters_->add(letter); }
  Result<DeadLetterPage> dead_letters(const DeadLetterQuery& query) override {
    DeadLetterQuery q = query;
    if (auto st = check_query(q); !st) return std::move(st).error();
    return letters_->list(q);
  }
  Result<DeadLetter> dead_letter(std::string_view id) override { return letters_->get(id); }
  Status remove_dead_letter(std::string_view id) override { return letters_->remove(id); }
  Result<std::uint64_t> purge_dead_letters(std::string_view consumer) override {
    return letters_->purge(consumer);
  }
  Result<std::string> replay_dead_letter(std::string_view id) override {
    auto letter = letters_->get(id);
    if (!letter) return letter.error();
    // The de-duplication window must not swallow it: publish under a new
    // window key by forgetting the id first.
    forget(letter->event.id);
    // Asynchronous: the replayed event settles when its consumers handle it,
    // which may be much later (or never, if it fails again).
    Status queued = enqueue(letter->event, nullptr, true);
    if (!queued) return queued.error();
    if (auto st = letters_->remove(id); !st) return st.error();
    return letter->event.id;
  }

 private:
  static std::uint64_t id_key(std::string_view id) { return std::hash<std::string_view>{}(id); }

  void forget(std::string_view id) {
    std::lock_guard lock(state_->mu);
    state_->recent.erase(id_key(id));
  }

  // Appends the event; done runs when it is settled. wait_for_room: block up
  // to publish_timeout while the log is full.
  Status enqueue(Event event, Done done, bool wait_for_room) {
    if (auto st = validate_event(event); !st) return st;
    State& s = *state_;
    std::vector<Done> ready;
    Status result;
    {
      std::unique_lock lock(s.mu);
      if (s.log.size() >= s.options.max_events) {
        if (!wait_for_room || !s.changed.wait_for(lock, s.options.publish_timeout, [&] {
              return s.log.size() < s.options.max_events;
            })) {
          return Error::exhausted("the in-process bus is full (max_events): retry later", 1);
        }
      }
      const std::uint64_t key = id_key(event.id);
      if (s.options.dedupe_window > 0) {
        auto it = s.recent.find(key);
        if (it != s.recent.end()) {
          // A duplicate: settles with the original (or now, if it has).
          if (it->second >= s.base && it->second < s.end()) {
            Entry& original = s.log[it->second - s.base];
            if (original.owed != 0) {
              if (done) {
                original.done = [a = std::move(original.done), b = std::move(done)](Status st) {
                  if (a) a(st);
                  b(st);
                };
              }
              return {};
            }
          }
          lock.unlock();
          if (done) done(Status{});
          return {};
        }
      }
      const std::uint64_t seq = s.end();
      Entry e;
      for (auto& d : s.durables) {
        if (subject_matches(d->options.filter, event.subject))
          e.owed |= std::uint64_t{1} << d->index;
      }
      if (s.options.dedupe_window > 0) {
        s.recent[key] = seq;
        s.recent_order.push_back(key);
        if (s.recent_order.size() > s.options.dedupe_window) {
          s.recent.erase(s.recent_order.front());
          s.recent_order.pop_front();
        }
      }
      if (e.owed == 0) {
        if (done) ready.push_back(std::move(done));
        // Nothing to deliver: keep the log free of it (it is settled).
        if (s.log.empty()) {
          ++s.base;
        } else {
          e.event = std::move(event);
          s.log.push_back(std::move(e));
        }
      } else {
        e.event = std::move(event);
        e.done = std::move(done);
        s.log.push_back(std::move(e));
        s.changed.notify_all();
      }
    }
    run_all(ready, result);
    return {};
  }

  std::shared_ptr<State> state_;
  std::unique_ptr<DeadLetterStore> letters_;
};

}  // namespace

std::unique_ptr<EventBus> open_inproc_bus(const InprocBusOptions& options) {
  return std::make_unique<InprocBus>(options);
}

}  // namespace office::bus
