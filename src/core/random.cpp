#include "core/random.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace office {

void secure_random(void* buf, std::size_t len) {
  auto* p = static_cast<unsigned char*>(buf);
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("getrandom");
      std::abort();
    }
    p += n;
    len -= static_cast<std::size_t>(n);
  }
}

std::uint64_t fast_random_u64() {
  // xoshiro256** seeded per thread.
  thread_local std::uint64_t s[4] = {0, 0, 0, 0};
  thread_local bool seeded = false;
  if (!seeded) {
    do secure_random(s, sizeof s);
    while ((s[0] | s[1] | s[2] | s[3]) == 0);
    seeded = true;
  }
  auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
  const std::uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

}  // namespace office
