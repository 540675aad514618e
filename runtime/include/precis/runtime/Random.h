//===- Random.h - splitmix64, for choices that must repeat exactly -*- C++ -*-===//
//
// Where precis draws numbers that must be the same on every machine and in every run (the
// training data permutation of --shuffle, parameters generated at load for --no-weights,
// precis bench's stand-in inputs), it uses splitmix64: the state advances by the golden-ratio
// increment, and each output is the state passed through a bijective mix. One definition, so
// the compiler (which derives per-parameter seeds) and the runtime agree bit for bit.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_RANDOM_H
#define PRECIS_RUNTIME_RANDOM_H

#include <cstdint>

namespace precis::rt {

/// What the splitmix64 state advances by per output.
inline constexpr uint64_t kSplitMix64Increment = 0x9E3779B97F4A7C15ull;

/// splitmix64's output function: a bijective mix of the 64 bits of `z`.
inline uint64_t splitmix64Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// The generator: output k (from 1) of a generator seeded with s is
/// splitmix64Mix(s + k * kSplitMix64Increment).
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() { return splitmix64Mix(state_ += kSplitMix64Increment); }

private:
  uint64_t state_;
};

} // namespace precis::rt

#endif // PRECIS_RUNTIME_RANDOM_H
