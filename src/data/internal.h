#pragma once
// Private to src/data: the counter-based RNG and hashing behind every generated scene and the
// loader's augmentation streams. Header-only, so it adds no edge to the file graph.

#include "src/core/random.h"

#include <cstdint>
#include <initializer_list>

namespace cwd::data::detail {

using cwd::mix64;

/// Hash of a sequence of 64-bit words (order matters).
inline uint64_t hash_words(std::initializer_list<uint64_t> words) {
  uint64_t h = 0x6a09e667f3bcc909ULL;
  for (uint64_t w : words) h = mix64(h ^ mix64(w + 0x9e3779b97f4a7c15ULL));
  return h;
}

/// Counter-based generator (splitmix64). Every draw is plain integer / IEEE arithmetic, so the
/// stream is identical across compilers, platforms and threads (unlike std::*_distribution).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(mix64(seed ^ 0x2545f4914f6cdd1dULL)) {}
  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n) (n > 0), by the multiply-high method.
  int64_t below(int64_t n) {
    return static_cast<int64_t>(
        (static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >> 64);
  }
  /// Uniform integer in [lo, hi].
  int64_t between(int64_t lo, int64_t hi) { return lo + below(hi - lo + 1); }
  bool chance(double p) { return uniform() < p; }

 private:
  uint64_t state_;
};

}  // namespace cwd::data::detail
