//===- RuntimeCorruptionTest.cpp - damaged artifacts never crash the loader -===//
//
// Every truncation, every single-bit flip and every byte overwrite of a valid artifact, plus
// random multi-byte damage (seeded; the seed is printed and PRECIS_CORRUPTION_SEED replays
// it): each load must return an error or a session, and a session that loads must run (or
// fail cleanly) on well-formed inputs. Meant to run under ASan/UBSan too, where an
// out-of-bounds read is a failure even when it does not crash.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "precis/runtime/Session.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

using namespace precis::rt;
using namespace precis::rt::testing;

namespace {

struct Outcome {
  int loaded = 0, rejected = 0, ran = 0;
};

/// Loads `bytes`; when that works, runs every function on zero inputs of the right types.
void tryLoadAndRun(const std::string &bytes, Outcome *outcome) {
  std::unique_ptr<Session> s;
  Status st = Session::createFromMemory(bytes.data(), bytes.size(), {}, &s);
  if (!st.isOk()) {
    ++outcome->rejected;
    EXPECT_FALSE(st.message().empty());
    return;
  }
  ++outcome->loaded;
  for (const FunctionInfo &f : s->functions()) {
    std::vector<Tensor> inputs;
    for (const TensorInfo &info : f.inputs) {
      uint64_t bytesNeeded = dtypeSize(info.dtype);
      for (int64_t d : info.shape)
        bytesNeeded *= static_cast<uint64_t>(d);
      if (bytesNeeded > (1u << 20))
        return; // a damaged shape asking for huge inputs: loading was the point
      Tensor t;
      t.dtype = info.dtype;
      t.shape = info.shape;
      t.data.assign(bytesNeeded, 0);
      inputs.push_back(std::move(t));
    }
    std::vector<Tensor> outputs;
    if (s->run(f.name, inputs, &outputs).isOk())
      ++outcome->ran;
  }
}

TEST(RuntimeCorruption, EveryTruncation) {
  const std::string good = makeMlpArtifact();
  Outcome outcome;
  for (size_t len = 0; len < good.size(); ++len) {
    std::unique_ptr<Session> s;
    Status st = Session::createFromMemory(good.data(), len, {}, &s);
    EXPECT_EQ(st.code(), StatusCode::InvalidArtifact) << "length " << len << ": " << st.message();
  }
  tryLoadAndRun(good, &outcome);
  EXPECT_EQ(outcome.loaded, 1);
  EXPECT_EQ(outcome.ran, 2);
}

TEST(RuntimeCorruption, EveryBitFlip) {
  const std::string good = makeMlpArtifact();
  Outcome outcome;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      tryLoadAndRun(bad, &outcome);
    }
  }
  std::printf("bit flips: %d rejected, %d loaded (%d function runs succeeded)\n", outcome.rejected,
              outcome.loaded, outcome.ran);
  EXPECT_EQ(outcome.loaded + outcome.rejected, static_cast<int>(good.size() * 8));
  EXPECT_GT(outcome.rejected, 0);
}

TEST(RuntimeCorruption, EveryByteValueInTheManifest) {
  // Each manifest byte set to each interesting value: varint boundaries, field tags, 0, 0xFF.
  const std::string good = makeMlpArtifact();
  const uint64_t manifestEnd = 24 + static_cast<uint8_t>(good[16]);
  Outcome outcome;
  const unsigned char values[] = {0x00, 0x01, 0x02, 0x08, 0x10, 0x1A, 0x22, 0x3F,
                                  0x40, 0x7F, 0x80, 0x81, 0xC0, 0xFE, 0xFF};
  for (size_t i = 0; i < manifestEnd; ++i) {
    for (unsigned char v : values) {
      std::string bad = good;
      bad[i] = static_cast<char>(v);
      tryLoadAndRun(bad, &outcome);
    }
  }
  std::printf("byte overwrites: %d rejected, %d loaded (%d function runs succeeded)\n",
              outcome.rejected, outcome.loaded, outcome.ran);
}

TEST(RuntimeCorruption, RandomDamage) {
  uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  if (const char *env = std::getenv("PRECIS_CORRUPTION_SEED"))
    seed = std::strtoull(env, nullptr, 10);
  std::printf("RandomDamage seed: %llu (replay with PRECIS_CORRUPTION_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const std::string good = makeMlpArtifact();
  Outcome outcome;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string bad = good;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      // Bias towards the header and manifest, where the structure is.
      const size_t limit = rng() % 4 ? std::min<size_t>(bad.size(), 24 + 256) : bad.size();
      bad[rng() % limit] = static_cast<char>(rng());
    }
    if (rng() % 8 == 0)
      bad.resize(rng() % (bad.size() + 1));
    tryLoadAndRun(bad, &outcome);
  }
  std::printf("random damage: %d rejected, %d loaded (%d function runs succeeded)\n",
              outcome.rejected, outcome.loaded, outcome.ran);
}

TEST(RuntimeCorruption, ManifestFromRandomBytes) {
  // A valid header around random manifest bytes: the parser and validator see garbage.
  std::mt19937_64 rng(1234);
  Outcome outcome;
  for (int iter = 0; iter < 3000; ++iter) {
    const size_t n = rng() % 200;
    std::string manifest(n, '\0');
    for (char &c : manifest)
      c = static_cast<char>(rng());
    std::string bytes(precis::schema::kArtifactMagic, 8);
    bytes += std::string("\x01\0\0\0\0\0\0\0", 8);
    for (int i = 0; i < 8; ++i)
      bytes.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    bytes += manifest;
    bytes.resize((bytes.size() + 63) / 64 * 64 + rng() % 256, '\0');
    tryLoadAndRun(bytes, &outcome);
  }
  EXPECT_EQ(outcome.loaded + outcome.rejected, 3000);
}

} // namespace
