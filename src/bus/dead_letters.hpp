#pragma once

#include <memory>
#include <string_view>

#include "bus/event_bus.hpp"

namespace office::storage {
class Database;
}

// Where a bus without a dead-letter stream of its own (the in-process bus)
// keeps its dead letters. Internal to the bus module.
namespace office::bus {

class DeadLetterStore {
 public:
  virtual ~DeadLetterStore() = default;
  virtual Status add(const DeadLetter& letter) = 0;
  virtual Result<DeadLetterPage> list(const DeadLetterQuery& query) = 0;
  virtual Result<DeadLetter> get(std::string_view id) = 0;
  virtual Status remove(std::string_view id) = 0;
  virtual Result<std::uint64_t> purge(std::string_view consumer) = 0;
  /// Dead letters kept per consumer.
  virtual Result<std::uint64_t> count(std::string_view consumer) = 0;
};

/// In memory (lost with the process): tests and benchmarks.
std::unique_ptr<DeadLetterStore> memory_dead_letters();
/// In the database's bus_dead_letters table (bus::migrations()).
std::unique_ptr<DeadLetterStore> sql_dead_letters(storage::Database& db);

/// Clamps a query's limit to 1..1000 and checks the consumer name and page
/// token. Errors: kInvalidArgument.
Status check_query(DeadLetterQuery& query);

}  // namespace office::bus
