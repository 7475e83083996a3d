#pragma once
// The one 64-bit mixing function of the project: the splitmix64 finaliser. The data generator's
// counter RNG and the trainer's per-iteration seeds are both built on it.

#include <cstdint>

namespace cwd {

/// splitmix64 finaliser: a bijective 64-bit mix.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace cwd
