#include "bus/event_bus.hpp"

#include <atomic>
#include <thread>
#include <utility>

namespace office::bus {

// publish_async() one by one. A refusal at once is a done that runs with an
// error on this thread before publish_async() returns.
std::size_t EventBus::publish_async_many(std::span<Outgoing> batch) {
  struct Watch {
    std::thread::id caller = std::this_thread::get_id();
    std::atomic<bool> in_call{false};
    std::atomic<bool> refused{false};
  };
  auto watch = std::make_shared<Watch>();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    watch->in_call = true;
    publish_async(std::move(batch[i].event), [watch, done = std::move(batch[i].done)](Status st) {
      if (!st.ok() && watch->in_call.load() && std::this_thread::get_id() == watch->caller) {
        watch->refused = true;
      }
      if (done) done(std::move(st));
    });
    watch->in_call = false;
    if (watch->refused.load()) return i;
  }
  return batch.size();
}

}  // namespace office::bus
