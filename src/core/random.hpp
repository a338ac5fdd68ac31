#pragma once

#include <cstddef>
#include <cstdint>

namespace office {

/// Fills buf with cryptographically secure random bytes (getrandom(2)).
/// Thread-safe. Aborts if the kernel cannot supply randomness.
void secure_random(void* buf, std::size_t len);

/// Fast non-cryptographic random 64-bit value from a per-thread generator
/// seeded from secure_random. Thread-safe (thread-local state).
std::uint64_t fast_random_u64();

}  // namespace office
