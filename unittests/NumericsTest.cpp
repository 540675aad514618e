//===- NumericsTest.cpp - Tests for runtime/.../numerics.h ----------------===//
//
// numerics.h is the one definition of bf16 / fp16 / fp8 rounding in precis, so
// it is checked against code that shares nothing with it:
//   * a reference decoder that builds each value from its fields with ldexp;
//   * a reference encoder that searches the sorted table of all finite values
//     of a format for the nearest one (ties to the even mantissa), then applies
//     the overflow rule (IEEE: inf at max + ulp/2; fp8 satfinite: clamp);
//   * values computed offline with ml_dtypes (data/numerics_golden.txt);
//   * hand-checked values.
// Every 8- and 16-bit encoding is decoded and re-encoded; every tie between
// adjacent encodings (and one fp32 ulp either side) is encoded; and a fresh
// random sample of fp32 bit patterns is drawn each run (the seed is printed on
// failure; PRECIS_NUMERICS_SEED=<seed> replays it).
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/numerics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace precis;

namespace {

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

std::string hex(uint32_t v, int digits) {
  std::ostringstream out;
  out << "0x" << std::uppercase << std::hex << std::setfill('0')
      << std::setw(digits) << v;
  return out.str();
}

std::string describe(float x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s (%.9g)", hex(bitsOf(x), 8).c_str(), x);
  return buf;
}

/// A format described independently of numerics.h.
struct Format {
  const char *name;
  int width;
  int expBits;
  int mantBits;
  int bias;
  bool ieeeSpecials; // top exponent is inf / NaN; else only S.1111.111 is NaN
  bool saturates;    // overflow clamps to max finite instead of going to inf
  bool decodedNaNKeepsBits; // decode(NaN) is code << 16, else 0x7FFFFFFF
  uint32_t canonicalNaN;
  uint32_t (*encode)(float);
  float (*decode)(uint32_t);

  uint32_t signBit() const { return 1u << (width - 1); }
  int digits() const { return width / 4; }
};

const Format kFormats[] = {
    {"bf16", 16, 8, 7, 127, true, false, true, 0x7FFF,
     [](float x) -> uint32_t { return float_to_bf16(x); },
     [](uint32_t c) { return bf16_to_float(static_cast<uint16_t>(c)); }},
    {"fp16", 16, 5, 10, 15, true, false, false, 0x7FFF,
     [](float x) -> uint32_t { return float_to_fp16(x); },
     [](uint32_t c) { return fp16_to_float(static_cast<uint16_t>(c)); }},
    {"e4m3fn", 8, 4, 3, 7, false, true, false, 0x7F,
     [](float x) -> uint32_t { return float_to_fp8_e4m3fn(x); },
     [](uint32_t c) { return fp8_e4m3fn_to_float(static_cast<uint8_t>(c)); }},
    {"e5m2", 8, 5, 2, 15, true, true, false, 0x7F,
     [](float x) -> uint32_t { return float_to_fp8_e5m2(x); },
     [](uint32_t c) { return fp8_e5m2_to_float(static_cast<uint8_t>(c)); }},
};

/// The value of an encoding from its sign, exponent and mantissa fields; NaN
/// for NaN encodings.
double refDecode(const Format &f, uint32_t code) {
  const uint32_t mantMask = (1u << f.mantBits) - 1;
  const uint32_t mag = code & (f.signBit() - 1);
  const int e = static_cast<int>(mag >> f.mantBits);
  const uint32_t m = mag & mantMask;
  const int eMax = (1 << f.expBits) - 1;
  double v;
  if (f.ieeeSpecials && e == eMax)
    v = m != 0 ? std::numeric_limits<double>::quiet_NaN()
               : std::numeric_limits<double>::infinity();
  else if (!f.ieeeSpecials && e == eMax && m == mantMask)
    v = std::numeric_limits<double>::quiet_NaN();
  else if (e == 0)
    v = std::ldexp(static_cast<double>(m), 1 - f.bias - f.mantBits);
  else
    v = std::ldexp(static_cast<double>(m | (mantMask + 1)),
                   e - f.bias - f.mantBits);
  return (code & f.signBit()) ? -v : v;
}

/// Slow, obviously correct round-to-nearest-even encoder over the sorted table
/// of a format's non-negative finite values.
class RefEncoder {
public:
  explicit RefEncoder(const Format &f) : format(f) {
    for (uint32_t c = 0; c < f.signBit(); ++c) {
      const double v = refDecode(f, c);
      if (std::isfinite(v)) {
        values.push_back(v);
        codes.push_back(c);
      }
    }
    maxValue = values.back();
    ulpOfMax = maxValue - values[values.size() - 2];
    infCode = ((1u << f.expBits) - 1) << f.mantBits;
  }

  uint32_t operator()(float x) const {
    if (std::isnan(x))
      return format.canonicalNaN;
    const uint32_t sign = std::signbit(x) ? format.signBit() : 0;
    const double a = std::fabs(static_cast<double>(x));
    if (a > maxValue) {
      // IEEE overflow: round as if the exponent were unbounded; the next value
      // after max would be max + ulp, and max's mantissa is odd, so the tie at
      // max + ulp/2 goes up too.
      const bool toInf = !format.saturates && a >= maxValue + ulpOfMax / 2;
      return sign | (toInf ? infCode : codes.back());
    }
    const size_t i =
        std::lower_bound(values.begin(), values.end(), a) - values.begin();
    if (values[i] == a)
      return sign | codes[i];
    const double mid = (values[i - 1] + values[i]) / 2; // exact in double
    uint32_t code;
    if (a != mid)
      code = a < mid ? codes[i - 1] : codes[i];
    else
      code = (codes[i - 1] & 1) == 0 ? codes[i - 1] : codes[i];
    return sign | code;
  }

  const Format &format;
  std::vector<double> values; // ascending
  std::vector<uint32_t> codes;
  double maxValue, ulpOfMax;
  uint32_t infCode;
};

const RefEncoder &refEncoder(int index) {
  static const RefEncoder encoders[] = {
      RefEncoder(kFormats[0]), RefEncoder(kFormats[1]), RefEncoder(kFormats[2]),
      RefEncoder(kFormats[3])};
  return encoders[index];
}

/// Counts mismatches and keeps the first few, so that an exhaustive loop fails
/// with one readable message instead of thousands.
class Mismatches {
public:
  void add(const std::string &what) {
    if (count++ < 12)
      text += "  " + what + "\n";
  }
  ::testing::AssertionResult none() const {
    if (count == 0)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << count << " mismatches, first ones:\n"
           << text;
  }

private:
  size_t count = 0;
  std::string text;
};

uint64_t testSeed() {
  if (const char *env = std::getenv("PRECIS_NUMERICS_SEED"))
    return std::strtoull(env, nullptr, 0);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) | rd();
}

class FormatTest : public ::testing::TestWithParam<int> {
protected:
  const Format &format() const { return kFormats[GetParam()]; }
  const RefEncoder &ref() const { return refEncoder(GetParam()); }

  /// Compares the fast encoder with the reference on x.
  void check(float x, Mismatches &out) const {
    const uint32_t got = format().encode(x), want = ref()(x);
    if (got != want)
      out.add(std::string(format().name) + " encode " + describe(x) + ": got " +
              hex(got, format().digits()) + ", want " +
              hex(want, format().digits()));
  }
};

TEST_P(FormatTest, DecodeIsExactForEveryEncoding) {
  const Format &f = format();
  Mismatches bad;
  for (uint32_t c = 0; c < (1u << f.width); ++c) {
    const double want = refDecode(f, c);
    const float got = f.decode(c);
    const std::string where = std::string(f.name) + " decode " +
                              hex(c, f.digits()) + ": got " + describe(got);
    if (std::isnan(want)) {
      const uint32_t nanBits = f.decodedNaNKeepsBits ? c << 16 : 0x7FFFFFFFu;
      if (bitsOf(got) != nanBits)
        bad.add(where + ", want NaN " + hex(nanBits, 8));
    } else if (static_cast<double>(got) != want ||
               std::signbit(got) != std::signbit(want)) {
      bad.add(where + ", want " + std::to_string(want));
    }
  }
  EXPECT_TRUE(bad.none());
}

TEST_P(FormatTest, EncodeInvertsDecodeForEveryEncoding) {
  const Format &f = format();
  Mismatches bad;
  for (uint32_t c = 0; c < (1u << f.width); ++c) {
    const double v = refDecode(f, c);
    uint32_t want = c;
    if (std::isnan(v))
      want = f.canonicalNaN;
    else if (std::isinf(v) && f.saturates) // E5M2 +-inf -> +-57344
      want = (c & f.signBit()) | ref().codes.back();
    const uint32_t got = f.encode(f.decode(c));
    if (got != want)
      bad.add(std::string(f.name) + " encode(decode(" + hex(c, f.digits()) +
              ")) = " + hex(got, f.digits()) + ", want " +
              hex(want, f.digits()));
  }
  EXPECT_TRUE(bad.none());
}

TEST_P(FormatTest, EncodeRoundsTiesAndTheirNeighbours) {
  // Every exact midpoint between adjacent finite values (including 0 and the
  // smallest subnormal, and max and the would-be next value max + ulp, the
  // overflow boundary), the midpoint +-1 fp32 ulp, and every finite value
  // +-1 fp32 ulp; all with both signs.
  std::vector<double> points = ref().values;
  points.push_back(ref().maxValue + ref().ulpOfMax);
  Mismatches bad;
  size_t checked = 0;
  const float inf = std::numeric_limits<float>::infinity();
  for (size_t i = 0; i + 1 < points.size(); ++i) {
    const double mid = (points[i] + points[i + 1]) / 2;
    const float x = static_cast<float>(mid);
    ASSERT_EQ(static_cast<double>(x), mid) << "midpoint not an fp32";
    const float value = static_cast<float>(points[i]);
    for (float y : {x, std::nextafter(x, inf), std::nextafter(x, 0.0f), value,
                    std::nextafter(value, inf), std::nextafter(value, 0.0f)}) {
      check(y, bad);
      check(-y, bad);
      checked += 2;
    }
  }
  EXPECT_TRUE(bad.none());
  EXPECT_GT(checked, 6 * ref().values.size());
}

TEST_P(FormatTest, EncodeMatchesReferenceOnRandomFloats) {
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (rerun with PRECIS_NUMERICS_SEED=" + std::to_string(seed) +
               ")");
  std::mt19937_64 rng(seed);
  Mismatches bad;
  // Uniform fp32 bit patterns: every class of input, mostly far out of range.
  for (int i = 0; i < 2'000'000; ++i)
    check(floatOf(static_cast<uint32_t>(rng())), bad);
  // Exponents from two binades under the smallest subnormal of the format to
  // two over its max, so rounding inside the range gets most of the samples.
  const int minExp = 1 - format().bias - format().mantBits;
  const int maxExp = static_cast<int>(std::ilogb(ref().maxValue));
  std::uniform_int_distribution<int> field(std::max(0, 127 + minExp - 2),
                                           std::min(254, 127 + maxExp + 2));
  for (int i = 0; i < 500'000; ++i) {
    const uint32_t r = static_cast<uint32_t>(rng());
    check(floatOf((r & 0x807FFFFFu) | static_cast<uint32_t>(field(rng)) << 23),
          bad);
  }
  EXPECT_TRUE(bad.none());
}

TEST_P(FormatTest, EncodeSpecialValues) {
  const Format &f = format();
  const RefEncoder &r = ref();
  Mismatches bad;
  const uint32_t specials[] = {
      0x00000000, 0x80000000,                         // +-0
      0x7F800000, 0xFF800000,                         // +-inf
      0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, // NaNs: quiet, signalling
      0x7FFFFFFF, 0xFFFFFFFF, 0x7FA5A5A5, 0x7FBFFFFF, // NaN payloads
      0x00000001, 0x80000001, 0x00000002, 0x00400000, // fp32 subnormals
      0x007FFFFF, 0x807FFFFF, 0x00800000, 0x80800000, // and min normal
      0x7F7FFFFF, 0xFF7FFFFF};                        // fp32 max
  for (uint32_t s : specials)
    check(floatOf(s), bad);
  const float max = static_cast<float>(r.maxValue);
  const float boundary = static_cast<float>(r.maxValue + r.ulpOfMax / 2);
  const float inf = std::numeric_limits<float>::infinity();
  for (float x :
       {max, std::nextafter(max, inf), boundary, std::nextafter(boundary, 0.0f),
        std::nextafter(boundary, inf)}) {
    check(x, bad);
    check(-x, bad);
  }
  EXPECT_TRUE(bad.none());

  // The rules themselves, independent of the reference.
  const uint32_t maxCode = r.codes.back();
  const uint32_t top = f.saturates ? maxCode : r.infCode;
  EXPECT_EQ(f.encode(inf), top);
  EXPECT_EQ(f.encode(-inf), f.signBit() | top);
  EXPECT_EQ(f.encode(max), maxCode);
  EXPECT_EQ(f.encode(boundary), top);
  EXPECT_EQ(f.encode(std::nextafter(boundary, 0.0f)), maxCode);
  EXPECT_EQ(f.encode(0.0f), 0u);
  EXPECT_EQ(f.encode(-0.0f), f.signBit());
  for (uint32_t nan : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFFFFFFFFu})
    EXPECT_EQ(f.encode(floatOf(nan)), f.canonicalNaN) << hex(nan, 8);
  EXPECT_TRUE(std::isnan(f.decode(f.canonicalNaN)));
}

INSTANTIATE_TEST_SUITE_P(AllFormats, FormatTest, ::testing::Range(0, 4),
                         [](const ::testing::TestParamInfo<int> &param) {
                           return std::string(kFormats[param.param].name);
                         });

TEST(NumericsTest, HandCheckedValues) {
  // 1.0: exponent field = bias, mantissa 0.
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_fp8_e4m3fn(1.0f), 0x38); // 0.0111.000
  EXPECT_EQ(float_to_fp8_e5m2(1.0f), 0x3C);   // 0.01111.00
  // 0.1f = 0x3DCCCCCD: bf16 keeps 0x3DCC, dropped 0xCCCD > half: 0x3DCD.
  EXPECT_EQ(float_to_bf16(0.1f), 0x3DCD);
  EXPECT_EQ(float_to_fp16(0.1f), 0x2E66);
  // 0.1 = 1.6 * 2^-4: E4M3 mantissa 4.8/8 -> 5 (0.1015625); E5M2 2.4/4 -> 2.
  EXPECT_EQ(float_to_fp8_e4m3fn(0.1f), 0x1D);
  EXPECT_EQ(float_to_fp8_e5m2(0.1f), 0x2E);

  // bf16 ties: 1 + 2^-8 lies halfway between 1.0 (0x3F80, even) and 0x3F81.
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3F80);
  EXPECT_EQ(round_to_bf16(1.00390625f), 1.0f);
  // 1 + 3 * 2^-8 lies between 0x3F81 (odd) and 0x3F82: up.
  EXPECT_EQ(float_to_bf16(1.01171875f), 0x3F82);
  // bf16 max is 0x7F7F; fp32 max rounds past it to inf.
  EXPECT_EQ(float_to_bf16(kBF16Max), 0x7F7F);
  EXPECT_EQ(float_to_bf16(floatOf(0x7F7FFFFF)), 0x7F80);
  EXPECT_EQ(float_to_bf16(floatOf(0x7F7F7FFF)), 0x7F7F);
  EXPECT_EQ(float_to_bf16(floatOf(0x7F7F8000)), 0x7F80); // max + ulp/2
  // bf16 subnormals come straight from fp32 subnormals: 2^-134 is half the
  // smallest bf16 subnormal (ties to 0); one fp32 ulp more rounds up.
  EXPECT_EQ(float_to_bf16(floatOf(0x00000001)), 0x0000);
  EXPECT_EQ(float_to_bf16(floatOf(0x00008000)), 0x0000);
  EXPECT_EQ(float_to_bf16(floatOf(0x00008001)), 0x0001);
  EXPECT_EQ(float_to_bf16(floatOf(0x80018000)), 0x8002); // odd 0x8001: up

  // fp16 overflow: 65504 is max; 65520 = max + ulp/2 ties away from the odd
  // 0x7BFF, i.e. to inf; 65519.99 (65519.9921875f) stays finite.
  EXPECT_EQ(float_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_fp16(65519.99f), 0x7BFF);
  EXPECT_EQ(float_to_fp16(65520.0f), 0x7C00);
  EXPECT_EQ(float_to_fp16(-65520.0f), 0xFC00);
  // fp16 subnormals are multiples of 2^-24.
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -25)), 0x0000);    // tie -> 0
  EXPECT_EQ(float_to_fp16(std::ldexp(1.5f, -25)), 0x0001);    // > half
  EXPECT_EQ(float_to_fp16(std::ldexp(3.0f, -25)), 0x0002);    // tie -> 2
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -14)), 0x0400);    // min normal
  EXPECT_EQ(float_to_fp16(std::ldexp(1023.5f, -24)), 0x0400); // tie, even
  EXPECT_EQ(float_to_fp16(-1e-30f), 0x8000);

  // E4M3FN: max 448 = 1.75 * 2^8 = 0.1111.110. No inf: S.1111.111 is NaN.
  EXPECT_EQ(float_to_fp8_e4m3fn(448.0f), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3fn(464.0f), 0x7E); // max + ulp/2: even 0x7E
  EXPECT_EQ(float_to_fp8_e4m3fn(480.0f), 0x7E); // satfinite
  EXPECT_EQ(float_to_fp8_e4m3fn(1e9f), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3fn(-1e9f), 0xFE);
  EXPECT_EQ(float_to_fp8_e4m3fn(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3fn(-std::numeric_limits<float>::quiet_NaN()),
            0x7F);
  EXPECT_EQ(float_to_fp8_e4m3fn(240.0f), 0x77); // 1.875 * 2^7 = 0.1110.111
  EXPECT_EQ(float_to_fp8_e4m3fn(17.0f), 0x58);  // tie 16 / 18 -> 16 (even)
  EXPECT_EQ(float_to_fp8_e4m3fn(19.0f), 0x5A);  // tie 18 / 20 -> 20 (even)
  EXPECT_EQ(float_to_fp8_e4m3fn(std::ldexp(1.0f, -6)), 0x08);  // min normal
  EXPECT_EQ(float_to_fp8_e4m3fn(std::ldexp(1.0f, -9)), 0x01);  // min subnormal
  EXPECT_EQ(float_to_fp8_e4m3fn(std::ldexp(1.0f, -10)), 0x00); // tie -> 0
  EXPECT_EQ(float_to_fp8_e4m3fn(-std::ldexp(1.0f, -10)), 0x80);
  EXPECT_EQ(fp8_e4m3fn_to_float(0x7E), 448.0f);
  EXPECT_EQ(fp8_e4m3fn_to_float(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(fp8_e4m3fn_to_float(0xF8), -256.0f); // exponent 15 is normal

  // E5M2: max 57344 = 1.75 * 2^15 = 0.11110.11; 0.11111.00 is inf.
  EXPECT_EQ(float_to_fp8_e5m2(57344.0f), 0x7B);
  EXPECT_EQ(float_to_fp8_e5m2(61440.0f), 0x7B); // would tie up to inf
  EXPECT_EQ(float_to_fp8_e5m2(1e9f), 0x7B);
  EXPECT_EQ(float_to_fp8_e5m2(-std::numeric_limits<float>::infinity()), 0xFB);
  EXPECT_EQ(float_to_fp8_e5m2(std::ldexp(1.0f, -16)), 0x01); // min subnormal
  EXPECT_EQ(float_to_fp8_e5m2(std::ldexp(1.0f, -17)), 0x00); // tie -> 0
  EXPECT_EQ(fp8_e5m2_to_float(0x7C), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp8_e5m2_to_float(0xFF)));
}

TEST(NumericsTest, ConstantsAreTheLargestFiniteValues) {
  EXPECT_EQ(bf16_to_float(0x7F7F), kBF16Max);
  EXPECT_EQ(fp16_to_float(0x7BFF), kFP16Max);
  EXPECT_EQ(fp8_e4m3fn_to_float(0x7E), kFP8E4M3FNMax);
  EXPECT_EQ(fp8_e5m2_to_float(0x7B), kFP8E5M2Max);
  EXPECT_EQ(refEncoder(0).maxValue, kBF16Max);
  EXPECT_EQ(refEncoder(1).maxValue, kFP16Max);
  EXPECT_EQ(refEncoder(2).maxValue, kFP8E4M3FNMax);
  EXPECT_EQ(refEncoder(3).maxValue, kFP8E5M2Max);
}

TEST(NumericsTest, RoundTripHelpersAreDecodeOfEncode) {
  std::mt19937 rng(7);
  for (int i = 0; i < 10000; ++i) {
    const float x = floatOf(static_cast<uint32_t>(rng()));
    const auto same = [](float a, float b) { return bitsOf(a) == bitsOf(b); };
    EXPECT_TRUE(same(round_to_bf16(x), bf16_to_float(float_to_bf16(x))));
    EXPECT_TRUE(same(round_to_fp16(x), fp16_to_float(float_to_fp16(x))));
    EXPECT_TRUE(same(round_to_fp8_e4m3fn(x),
                     fp8_e4m3fn_to_float(float_to_fp8_e4m3fn(x))));
    EXPECT_TRUE(
        same(round_to_fp8_e5m2(x), fp8_e5m2_to_float(float_to_fp8_e5m2(x))));
  }
}

/// data/numerics_golden.txt, written by gen_numerics_golden.py from ml_dtypes
/// (with CUDA's satfinite and canonical-NaN rules applied on top; see there).
TEST(NumericsTest, MatchesMlDtypesGoldenFile) {
  std::ifstream in(PRECIS_NUMERICS_GOLDEN_FILE);
  ASSERT_TRUE(in) << "cannot open " << PRECIS_NUMERICS_GOLDEN_FILE;
  Mismatches bad;
  size_t encodes = 0, decodes = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream fields(line);
    std::string kind;
    fields >> kind;
    if (kind == "E") {
      uint32_t x, want[4];
      fields >> std::hex >> x >> want[0] >> want[1] >> want[2] >> want[3];
      ASSERT_TRUE(fields) << "bad line: " << line;
      for (int k = 0; k < 4; ++k)
        if (kFormats[k].encode(floatOf(x)) != want[k])
          bad.add(line + ": " + kFormats[k].name + " got " +
                  hex(kFormats[k].encode(floatOf(x)), kFormats[k].digits()));
      ++encodes;
    } else if (kind == "D") {
      std::string name, value;
      uint32_t code;
      fields >> name >> std::hex >> code >> value;
      ASSERT_TRUE(fields) << "bad line: " << line;
      const Format *f =
          std::find_if(std::begin(kFormats), std::end(kFormats),
                       [&](const Format &g) { return name == g.name; });
      ASSERT_NE(f, std::end(kFormats)) << "bad line: " << line;
      const float got = f->decode(code);
      const bool ok = value == "nan"
                          ? std::isnan(got)
                          : bitsOf(got) == std::stoul(value, nullptr, 16);
      if (!ok)
        bad.add(line + ": got " + describe(got));
      ++decodes;
    } else {
      FAIL() << "bad line: " << line;
    }
  }
  EXPECT_TRUE(bad.none());
  EXPECT_GT(encodes, 2000u);
  EXPECT_GT(decodes, 1000u);
}

} // namespace
