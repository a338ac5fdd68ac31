#pragma once

#include <span>

#include "storage/database.hpp"

namespace office::bus {

/// The bus module's tables: bus_outbox (outbox.hpp), bus_inbox (inbox.hpp)
/// and bus_dead_letters (the in-process bus's dead letters).
std::span<const storage::Migration> migrations();

}  // namespace office::bus
