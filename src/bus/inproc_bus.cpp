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
  std::shared_ptr<const Event> event;
  std::uint64_t owed = 0;  // mask of durables that still owe an ack or a term
  Done done;               // runs once owed is 0
};

struct Pending {
  std::uint32_t attempt = 1;
  bool nakd = false;       // waiting for its redelivery time
  bool used = false;       // a slot of PendingSet holds a delivery
  Steady::time_point due;  // nakd: redeliver at; else: the ack wait ends
};

// A durable consumer's outstanding deliveries by seq: a window of slots from
// the oldest outstanding seq (deliveries are mostly acknowledged in order, so
// this is a queue, without a node allocation per delivery). Its span is
// bounded by the log's (max_events).
class PendingSet {
 public:
  Pending* find(std::uint64_t seq) {
    if (seq < base_ || seq >= base_ + slots_.size()) return nullptr;
    Pending& p = slots_[seq - base_];
    return p.used ? &p : nullptr;
  }
  void insert(std::uint64_t seq, Pending p) {
    if (slots_.empty()) base_ = seq;
    while (base_ + slots_.size() <= seq) slots_.emplace_back();
    p.used = true;
    slots_[seq - base_] = p;
    ++count_;
  }
  bool erase(std::uint64_t seq) {
    Pending* p = find(seq);
    if (p == nullptr) return false;
    p->used = false;
    --count_;
    while (!slots_.empty() && !slots_.front().used) {
      slots_.pop_front();
      ++base_;
    }
    return true;
  }
  std::size_t size() const { return count_; }
  template <class F>
  void for_each(F&& fn) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].used) fn(base_ + i, slots_[i]);
    }
  }

 private:
  std::deque<Pending> slots_;
  std::uint64_t base_ = 0;
  std::size_t count_ = 0;
};

// The de-duplication window: the last `capacity` event ids (as 64-bit
// hashes) -> seq, in a flat open-addressing table (linear probing,
// backward-shift deletion) and a ring that says which one to forget next.
class RecentIds {
 public:
  explicit RecentIds(std::size_t capacity) : ring_(capacity) {
    std::size_t n = 16;
    while (n < capacity * 2) n <<= 1;
    if (capacity > 0) table_.assign(n, Slot{});
    mask_ = n - 1;
  }
  bool enabled() const { return !ring_.empty(); }
  std::uint64_t* find(std::uint64_t key) {
    for (std::size_t i = index(key);; i = (i + 1) & mask_) {
      if (table_[i].key == 0) return nullptr;
      if (table_[i].key == key) return &table_[i].seq;
    }
  }
  void insert(std::uint64_t key, std::uint64_t seq) {
    if (ring_[head_] != 0) erase(ring_[head_]);
    ring_[head_] = key;
    head_ = (head_ + 1) % ring_.size();
    std::size_t i = index(key);
    while (table_[i].key != 0 && table_[i].key != key) i = (i + 1) & mask_;
    table_[i] = Slot{key, seq};
  }
  void erase(std::uint64_t key) {
    std::size_t i = index(key);
    while (table_[i].key != key) {
      if (table_[i].key == 0) return;
      i = (i + 1) & mask_;
    }
    // Backward shift: move later entries of the probe run into the hole.
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask_; table_[j].key != 0; j = (j + 1) & mask_) {
      std::size_t home = index(table_[j].key);
      // Movable unless its home lies cyclically in (hole, j].
      bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!stays) {
        table_[hole] = table_[j];
        hole = j;
      }
    }
    table_[hole] = Slot{};
  }
  /// A key for an id: never 0 (0 marks an empty slot).
  static std::uint64_t key_of(std::string_view id) {
    std::uint64_t h = std::hash<std::string_view>{}(id);
    return h == 0 ? 1 : h;
  }

 private:
  struct Slot {
    std::uint64_t key = 0;
    std::uint64_t seq = 0;
  };
  std::size_t index(std::uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> 20) & mask_;
  }
  std::vector<Slot> table_;
  std::size_t mask_ = 0;
  std::vector<std::uint64_t> ring_;
  std::size_t head_ = 0;
};

struct Durable {
  ConsumerOptions options;
  std::size_t index = 0;     // bit in Entry::owed
  std::uint64_t cursor = 0;  // next seq to consider for a first delivery
  PendingSet pending;
  Steady::time_point next_due = Steady::time_point::max();
  std::uint64_t redeliveries = 0;
};

struct State {
  explicit State(const InprocBusOptions& o) : options(o), recent(o.dedupe_window) {}
  const InprocBusOptions options;
  std::mutex mu;
  std::condition_variable changed;  // a publish, a nak, a settle
  std::deque<Entry> log;            // seq = base + index
  std::uint64_t base = 1;
  std::vector<std::unique_ptr<Durable>> durables;
  RecentIds recent;                    // the de-duplication window
  std::size_t publishers_waiting = 0;  // in publish(), for room

  std::uint64_t end() const { return base + log.size(); }

  std::chrono::milliseconds ack_wait(const Durable& d) const {
    if (options.ack_wait.count() > 0) return options.ack_wait;
    return d.options.drop_after + std::chrono::seconds(10);
  }

  // Marks seq settled for durable d; collects the done callbacks to run
  // (outside the lock) and trims the settled head of the log.
  // What settling leaves to do after the lock is released: run the done
  // callbacks, free the trimmed events.
  struct Settled {
    std::vector<Done> ready;
    std::vector<std::shared_ptr<const Event>> trimmed;
    void run() {
      for (auto& d : ready) {
        if (d) d(Status{});
      }
    }
  };
  void settle(const Durable& d, std::uint64_t seq, Settled& out) {
    if (seq < base || seq >= end()) return;
    Entry& e = log[seq - base];
    const std::uint64_t bit = std::uint64_t{1} << d.index;
    if ((e.owed & bit) == 0) return;
    e.owed &= ~bit;
    if (e.owed == 0 && e.done) out.ready.push_back(std::move(e.done));
    bool trimmed = false;
    while (!log.empty() && log.front().owed == 0) {
      out.trimmed.push_back(std::move(log.front().event));
      log.pop_front();
      ++base;
      trimmed = true;
    }
    if (trimmed && publishers_waiting > 0) changed.notify_all();
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
  Status ack_many(std::span<const Delivery> deliveries) override {
    State::Settled settled;
    {
      std::lock_guard lock(state_->mu);
      for (const Delivery& d : deliveries) {
        if (d_->pending.erase(d.seq)) state_->settle(*d_, d.seq, settled);
      }
    }
    settled.run();
    return {};
  }
  Status term(const Delivery& delivery) override { return finish(delivery); }

  Status nak(const Delivery& delivery, std::chrono::milliseconds delay) override {
    std::lock_guard lock(state_->mu);
    Pending* p = d_->pending.find(delivery.seq);
    if (p == nullptr || p->nakd) return {};
    p->nakd = true;
    p->due = Steady::now() + std::max(delay, std::chrono::milliseconds(0));
    d_->next_due = std::min(d_->next_due, p->due);
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
      d_->pending.for_each([&](std::uint64_t seq, const Pending& p) {
        if (p.due <= now) {
          due.push_back(seq);
        } else {
          next = std::min(next, p.due);
        }
      });
      std::sort(due.begin(), due.end());
      for (std::uint64_t seq : due) {
        Pending& p = *d_->pending.find(seq);
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
      d_->pending.insert(seq, p);
      out.push_back(Delivery{e.event, seq, 1, nullptr});
    }
  }

  Status finish(const Delivery& delivery) {
    State::Settled settled;
    {
      std::lock_guard lock(state_->mu);
      if (!d_->pending.erase(delivery.seq)) return {};
      state_->settle(*d_, delivery.seq, settled);
    }
    settled.run();
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

  Status publish(const Event& event) override {
    Done none;
    return enqueue(event, none, true);
  }

  void publish_async(Event event, Done done) override {
    Status st = enqueue(std::move(event), done, false);  // moves done only when queued
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
        d->pending.for_each([&](std::uint64_t, const Pending& p) {
          if (p.nakd) {
            ++c.pending;
          } else {
            ++c.in_flight;
          }
        });
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
    Done none;
    Status queued = enqueue(letter->event, none, true);
    if (!queued) return queued.error();
    if (auto st = letters_->remove(id); !st) return st.error();
    return letter->event.id;
  }

 private:
  void forget(std::string_view id) {
    std::lock_guard lock(state_->mu);
    if (state_->recent.enabled()) state_->recent.erase(RecentIds::key_of(id));
  }

  // Appends the event; done runs when it is settled. wait_for_room: block up
  // to publish_timeout while the log is full.
  // Moves from done only when it returns ok.
  Status enqueue(Event event, Done& done, bool wait_for_room) {
    if (auto st = validate_event(event); !st) return st;
    auto shared = std::make_shared<const Event>(std::move(event));  // outside the lock
    std::vector<Done> ready;
    Status st;
    {
      std::unique_lock lock(state_->mu);
      st = insert(lock, shared, done, wait_for_room, ready);
    }
    run_all(ready, Status{});
    return st;
  }

 public:
  std::size_t publish_async_many(std::span<Outgoing> batch) override {
    // Validated and shared outside the lock; then one lock for the batch.
    std::vector<std::shared_ptr<const Event>> shared(batch.size());
    std::size_t valid = 0;
    Status refused;
    for (; valid < batch.size(); ++valid) {
      if (auto st = validate_event(batch[valid].event); !st) {
        refused = std::move(st);
        break;
      }
      shared[valid] = std::make_shared<const Event>(std::move(batch[valid].event));
    }
    std::vector<Done> ready;
    std::size_t accepted = 0;
    {
      std::unique_lock lock(state_->mu);
      for (; accepted < valid; ++accepted) {
        if (auto st = insert(lock, shared[accepted], batch[accepted].done, false, ready); !st) {
          refused = std::move(st);
          break;
        }
      }
    }
    run_all(ready, Status{});
    if (accepted < batch.size()) {
      if (batch[accepted].done) batch[accepted].done(refused);
    }
    return accepted;
  }

 private:
  // Under the lock: appends the event (or joins it to its duplicate); the
  // done callbacks to run outside the lock go to `ready`. Moves from done
  // only when it returns ok.
  Status insert(std::unique_lock<std::mutex>& lock, std::shared_ptr<const Event>& shared,
                Done& done, bool wait_for_room, std::vector<Done>& ready) {
    State& s = *state_;
    if (s.log.size() >= s.options.max_events) {
      bool room = false;
      if (wait_for_room) {
        ++s.publishers_waiting;
        room = s.changed.wait_for(lock, s.options.publish_timeout,
                                  [&] { return s.log.size() < s.options.max_events; });
        --s.publishers_waiting;
      }
      if (!room) {
        return Error::exhausted("the in-process bus is full (max_events): retry later", 1);
      }
    }
    const std::uint64_t key = s.recent.enabled() ? RecentIds::key_of(shared->id) : 0;
    if (s.recent.enabled()) {
      if (const std::uint64_t* seen = s.recent.find(key)) {
        // A duplicate: settles with the original (or now, if it has).
        if (*seen >= s.base && *seen < s.end()) {
          Entry& original = s.log[*seen - s.base];
          if (original.owed != 0) {
            if (done) {
              original.done = [a = std::move(original.done),
                               b = std::move(done)](const Status& st) {
                if (a) a(st);
                b(st);
              };
            }
            return {};
          }
        }
        if (done) ready.push_back(std::move(done));
        return {};
      }
    }
    const std::uint64_t seq = s.end();
    Entry e;
    for (auto& d : s.durables) {
      if (subject_matches(d->options.filter, shared->subject))
        e.owed |= std::uint64_t{1} << d->index;
    }
    if (s.recent.enabled()) s.recent.insert(key, seq);
    if (e.owed == 0) {
      if (done) ready.push_back(std::move(done));
      // Nothing to deliver: keep the log free of it (it is settled).
      if (s.log.empty()) {
        ++s.base;
      } else {
        e.event = std::move(shared);
        s.log.push_back(std::move(e));
      }
    } else {
      e.event = std::move(shared);
      e.done = std::move(done);
      s.log.push_back(std::move(e));
      s.changed.notify_all();
    }
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
