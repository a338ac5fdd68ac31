#pragma once

#include <algorithm>
#include <charconv>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bus/event_bus.hpp"

// Tests only: an EventBus that keeps dead letters and stats in memory and
// records what was published, for testing adapters (the admin routes)
// without a real bus. It delivers nothing: consumer() is unavailable.
namespace office::bus::testing {

class FakeBus final : public EventBus {
 public:
  std::string_view backend() const override { return "fake"; }
  bool durable() const override { return false; }

  Status publish(const Event& event) override {
    std::lock_guard lock(mu_);
    if (!publish_error.message.empty()) return publish_error;
    published.push_back(event);
    return {};
  }
  void publish_async(Event event, std::function<void(Status)> done) override {
    done(publish(event));
  }
  std::size_t publish_async_many(std::span<Outgoing> batch) override {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Status st = publish(batch[i].event);
      bool refused = !st.ok();
      if (batch[i].done) batch[i].done(std::move(st));
      if (refused) return i;
    }
    return batch.size();
  }
  Result<std::shared_ptr<Consumer>> consumer(const ConsumerOptions&) override {
    return Error::unavailable("the fake bus delivers nothing");
  }
  Result<std::vector<ConsumerStats>> stats() override {
    std::lock_guard lock(mu_);
    return consumer_stats;
  }
  Status add_dead_letter(const DeadLetter& letter) override {
    std::lock_guard lock(mu_);
    letters.push_back(letter);
    return {};
  }
  // Oldest first; the page token is the index of the next one.
  Result<DeadLetterPage> dead_letters(const DeadLetterQuery& query) override {
    std::lock_guard lock(mu_);
    std::size_t from = 0;
    if (!query.page_token.empty()) {
      const char* end = query.page_token.data() + query.page_token.size();
      auto [p, ec] = std::from_chars(query.page_token.data(), end, from);
      if (ec != std::errc() || p != end) return Error::invalid("bad page token");
    }
    DeadLetterPage page;
    std::size_t i = from;
    for (; i < letters.size() && page.items.size() < query.limit; ++i) {
      if (query.consumer.empty() || letters[i].consumer == query.consumer)
        page.items.push_back(letters[i]);
    }
    for (; i < letters.size(); ++i) {
      if (query.consumer.empty() || letters[i].consumer == query.consumer) {
        page.next_page_token = std::to_string(i);
        break;
      }
    }
    ++calls.list;
    return page;
  }
  Result<DeadLetter> dead_letter(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = find(id);
    if (it == letters.end()) return Error::not_found("dead letter not found");
    return *it;
  }
  Status remove_dead_letter(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = find(id);
    if (it == letters.end()) return Error::not_found("dead letter not found");
    letters.erase(it);
    return {};
  }
  Result<std::uint64_t> purge_dead_letters(std::string_view consumer) override {
    std::lock_guard lock(mu_);
    auto n = std::erase_if(
        letters, [&](const DeadLetter& d) { return consumer.empty() || d.consumer == consumer; });
    ++calls.purge;
    return static_cast<std::uint64_t>(n);
  }
  Result<std::string> replay_dead_letter(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = find(id);
    if (it == letters.end()) return Error::not_found("dead letter not found");
    if (!publish_error.message.empty()) return publish_error;
    published.push_back(it->event);
    std::string event_id = it->event.id;
    letters.erase(it);
    return event_id;
  }

  // Set up and inspected by tests (not while a request runs).
  std::vector<DeadLetter> letters;
  std::vector<ConsumerStats> consumer_stats;
  std::vector<Event> published;
  Error publish_error{ErrorCode::kUnavailable, ""};  ///< non-empty message: publishes fail
  struct {
    int list = 0;
    int purge = 0;
  } calls;

 private:
  std::vector<DeadLetter>::iterator find(std::string_view id) {
    return std::find_if(letters.begin(), letters.end(),
                        [&](const DeadLetter& d) { return d.id == id; });
  }
  std::mutex mu_;
};

}  // namespace office::bus::testing
