#pragma once
// Internal to the NATS bus: dead letters kept in their own JetStream stream.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "bus/event_bus.hpp"
#include "bus/nats_conn.hpp"
#include "core/result.hpp"

namespace office::bus {

/// The dead-letter stream: one message per letter on
/// `<dead_letter_prefix>.<consumer>`, Nats-Msg-Id = letter id, body
/// office.events.v1.DeadLetter. Letters are found by id through an index
/// (id -> stream sequence, checked against the message on every use) filled
/// by add() and list(), and on a miss by reading the letters stored after the
/// last one read (so each letter is read once per process). Thread-safe.
class NatsDeadLetters {
 public:
  explicit NatsDeadLetters(std::shared_ptr<NatsConn> conn) : conn_(std::move(conn)) {}

  /// Stores a letter (a new id when it has none). Errors: kInvalidArgument, kUnavailable.
  Status add(const DeadLetter& letter);
  Result<DeadLetterPage> list(const DeadLetterQuery& query);
  /// Errors: kNotFound, kUnavailable.
  Result<DeadLetter> get(std::string_view id);
  Status remove(std::string_view id);
  Result<std::uint64_t> purge(std::string_view consumer);
  /// Letters kept, by consumer name.
  Result<std::map<std::string, std::uint64_t>> counts();

  struct Found {
    DeadLetter letter;
    std::uint64_t seq = 0;
  };
  /// A letter and its stream sequence. Errors: kNotFound, kUnavailable.
  Result<Found> find(std::string_view id);
  /// Removes the letter `id` stored at seq. Errors: kNotFound, kUnavailable.
  Status remove_at(std::uint64_t seq, std::string_view id);

 private:
  struct Entry {
    std::uint64_t seq = 0;
    std::string consumer;
  };
  /// The letter at seq (next_by_subject empty) or the first at or after seq
  /// on that subject; a null pointer when there is none.
  Result<NatsMsgPtr> direct_get(std::uint64_t seq, const std::string& next_by_subject);
  /// Indexes every letter stored after the last one indexed this way.
  Status scan_new();
  void remember(const std::string& id, std::uint64_t seq, std::string consumer);
  std::string consumer_of(natsMsg* msg) const;

  std::shared_ptr<NatsConn> conn_;
  std::mutex scan_mu_;  // one scan at a time
  std::mutex mu_;       // guards index_, scanned_to_
  std::unordered_map<std::string, Entry> index_;
  std::uint64_t scanned_to_ = 0;  // every letter stored up to this sequence is in index_
};

}  // namespace office::bus
