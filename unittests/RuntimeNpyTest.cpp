//===- RuntimeNpyTest.cpp - NumPy .npy / .npz reading and writing ---------===//
//
// Round trips for every supported dtype, files written by NumPy itself (an np.savez_compressed
// archive: DEFLATE entries behind zip64 local headers), the documented refusals (Fortran
// order, big-endian, fp8), and damaged files: every truncation and many byte overwrites must
// give an error, never a crash.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <unistd.h>

using namespace precis::rt;

namespace {

Tensor makeTensor(DType dtype, std::vector<int64_t> shape, uint8_t seed) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  int64_t n = 1;
  for (int64_t d : t.shape)
    n *= d;
  t.data.resize(static_cast<size_t>(n) * dtypeSize(dtype));
  for (size_t i = 0; i < t.data.size(); ++i)
    t.data[i] = static_cast<uint8_t>(dtype == DType::Bool ? (i + seed) % 2 : i * 31 + seed);
  return t;
}

/// A .npy file with header dict `dict` and `dataBytes` bytes of zeros.
std::string npyWithHeader(const std::string &dict, size_t dataBytes) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY\x01";
  out.push_back('\0');
  out.push_back(static_cast<char>(header.size() & 0xFF));
  out.push_back(static_cast<char>(header.size() >> 8));
  return out + header + std::string(dataBytes, '\0');
}

#define EXPECT_STATUS(expr, code_, substring)                                                      \
  do {                                                                                             \
    Status st_ = (expr);                                                                           \
    EXPECT_EQ(st_.code(), StatusCode::code_) << st_.message();                                     \
    EXPECT_NE(st_.message().find(substring), std::string::npos)                                    \
        << "message: " << st_.message() << "\nexpected to contain: " << (substring);               \
  } while (0)

TEST(RuntimeNpy, RoundTripsEveryDType) {
  const DType dtypes[] = {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64,
                          DType::I32, DType::I8,  DType::U8,  DType::Bool};
  const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {5}, {2, 3}, {2, 0, 3}, {1, 2, 3, 4}};
  for (DType dtype : dtypes) {
    for (const auto &shape : shapes) {
      const Tensor t = makeTensor(dtype, shape, 7);
      std::string bytes;
      ASSERT_TRUE(serializeNpy(t.view(), &bytes).isOk());
      // NumPy's layout: header padded so the data starts 64-byte aligned, ending in '\n'.
      EXPECT_EQ((bytes.size() - t.data.size()) % 64, 0u);
      EXPECT_EQ(bytes[bytes.size() - t.data.size() - 1], '\n');
      Tensor back;
      Status st = parseNpy(bytes.data(), bytes.size(), &back);
      ASSERT_TRUE(st.isOk()) << dtypeName(dtype) << ": " << st.message();
      EXPECT_EQ(back.dtype, dtype);
      EXPECT_EQ(back.shape, shape);
      EXPECT_EQ(back.data, t.data);
    }
  }
}

TEST(RuntimeNpy, HeaderSpelling) {
  std::string bytes;
  ASSERT_TRUE(serializeNpy(makeTensor(DType::F32, {3}, 0).view(), &bytes).isOk());
  EXPECT_NE(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"),
            std::string::npos);
  ASSERT_TRUE(serializeNpy(makeTensor(DType::BF16, {2, 2}, 0).view(), &bytes).isOk());
  EXPECT_NE(bytes.find("'descr': '<V2'"), std::string::npos); // as ml_dtypes saves bfloat16
  EXPECT_NE(bytes.find("'shape': (2, 2)"), std::string::npos);
  ASSERT_TRUE(serializeNpy(makeTensor(DType::U8, {}, 0).view(), &bytes).isOk());
  EXPECT_NE(bytes.find("'descr': '|u1'"), std::string::npos);
  EXPECT_NE(bytes.find("'shape': ()"), std::string::npos);
}

TEST(RuntimeNpy, ReadsNumPyVariants) {
  Tensor t;
  // Double quotes, no trailing comma, extra spaces, Python 2 long suffix.
  std::string f =
      npyWithHeader("{\"descr\":\"<i4\",\"shape\":( 2L , 3 ),\"fortran_order\":False}", 24);
  ASSERT_TRUE(parseNpy(f.data(), f.size(), &t).isOk());
  EXPECT_EQ(t.dtype, DType::I32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  // '|V2' (numpy's own spelling of a loaded bfloat16 array) reads as bf16.
  f = npyWithHeader("{'descr': '|V2', 'fortran_order': False, 'shape': (4,), }", 8);
  ASSERT_TRUE(parseNpy(f.data(), f.size(), &t).isOk());
  EXPECT_EQ(t.dtype, DType::BF16);
  // Version 2.0 header (4-byte length).
  std::string v2 = "\x93NUMPY\x02";
  v2.push_back('\0');
  std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
  dict.append((64 - (12 + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  v2.push_back(static_cast<char>(dict.size()));
  v2 += std::string(3, '\0') + dict + std::string(8, '\0');
  ASSERT_TRUE(parseNpy(v2.data(), v2.size(), &t).isOk());
  EXPECT_EQ(t.dtype, DType::F64);
}

TEST(RuntimeNpy, LargeHeaderUsesVersion2) {
  // 30000 dimensions of 1: the header outgrows version 1.0's 16-bit length.
  const Tensor t = makeTensor(DType::I8, std::vector<int64_t>(30000, 1), 3);
  std::string bytes;
  ASSERT_TRUE(serializeNpy(t.view(), &bytes).isOk());
  EXPECT_EQ(bytes[6], 2);
  Tensor back;
  ASSERT_TRUE(parseNpy(bytes.data(), bytes.size(), &back).isOk());
  EXPECT_EQ(back.shape.size(), 30000u);
  EXPECT_EQ(back.data, t.data);
}

TEST(RuntimeNpy, Refusals) {
  Tensor t;
  std::string f = npyWithHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16);
  EXPECT_STATUS(parseNpy(f.data(), f.size(), &t), Unimplemented, "Fortran-order");
  f = npyWithHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8);
  EXPECT_STATUS(parseNpy(f.data(), f.size(), &t), Unimplemented, "big-endian dtype '>f4'");
  f = npyWithHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16);
  EXPECT_STATUS(parseNpy(f.data(), f.size(), &t), Unimplemented, "dtype '<c8' is not supported");
  f = npyWithHeader("{'descr': '<V1', 'fortran_order': False, 'shape': (2,), }", 2);
  EXPECT_STATUS(parseNpy(f.data(), f.size(), &t), Unimplemented, "fp8");
  f = npyWithHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8);
  EXPECT_STATUS(parseNpy(f.data(), f.size(), &t), Unimplemented, "structured");
  std::string bytes;
  EXPECT_STATUS(serializeNpy(makeTensor(DType::F8E4M3FN, {2}, 0).view(), &bytes), Unimplemented,
                "cast it to f32");
}

TEST(RuntimeNpy, MalformedHeaders) {
  Tensor t;
  const std::pair<std::string, const char *> cases[] = {
      {"{'descr': '<f4', 'fortran_order': False, }", "lacks"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unexpected key 'x'"},
      {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", "not True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", "negative"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "overflows"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "expected ',' or '}'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", "header"},
      {"['descr']", "not a dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", "text after the dict"},
  };
  for (const auto &[dict, message] : cases)
    EXPECT_STATUS(parseNpy(npyWithHeader(dict, 8).data(), npyWithHeader(dict, 8).size(), &t),
                  InvalidArgument, message);
  std::string f = npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8);
  EXPECT_STATUS(parseNpy(f.data(), f.size(), &t), InvalidArgument,
                "data of f32[3] is 12 bytes, but the file has 8");
  f = npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8);
  EXPECT_STATUS(parseNpy(f.data(), f.size(), &t), InvalidArgument, "the file has 8");
  EXPECT_STATUS(parseNpy("\x93NUMPZ\x01\x00\x00\x00", 10, &t), InvalidArgument, "bad magic");
  EXPECT_STATUS(parseNpy("\x93NUMPY\x07\x00\x00\x00", 10, &t), Unimplemented, "version 7.0");
  EXPECT_STATUS(parseNpy(f.data(), 5, &t), InvalidArgument, "bad magic");
  f[8] = '\xFF';
  f[9] = '\xFF';
  EXPECT_STATUS(parseNpy(f.data(), f.size(), &t), InvalidArgument, "extends past the end");
}

const unsigned char kNumpyNpz[] = // np.savez_compressed(a=f32[3,4] arange, idx=[1,-2,3], flag=True)
    "\x50\x4b\x03\x04\x2d\x00\x00\x00\x08\x00\x00\x00\x21\x00\x2d\x6f\x22\x26\xff\xff\xff\xff\xff"
    "\xff"
    "\xff\xff\x05\x00\x14\x00\x61\x2e\x6e\x70\x79\x01\x00\x10\x00\xb0\x00\x00\x00\x00\x00\x00\x00"
    "\x66"
    "\x00\x00\x00\x00\x00\x00\x00\x9b\xec\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad\x9e\x92\x5a\x9c"
    "\x5c"
    "\xa4\x6e\xa5\xa0\x6e\x93\x66\xa2\xae\xa3\xa0\x9e\x96\x5f\x54\x52\x94\x98\x17\x9f\x5f\x94\x92"
    "\x0a"
    "\x12\x77\x4b\xcc\x29\x4e\x05\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a\xc6\x3a\x0a\x26\x9a\x3a\x0a"
    "\xb5"
    "\x0a\x64\x03\x2e\x06\x30\x68\xb0\x07\x12\x0e\x40\x04\xc4\x0d\x40\xbc\x00\x88\x0f\x00\xf1\x03"
    "\x20"
    "\x66\x70\x64\x60\x10\x00\x62\x05\x20\x36\x70\x04\x00\x50\x4b\x03\x04\x2d\x00\x00\x00\x08\x00"
    "\x00"
    "\x00\x21\x00\x74\xa8\xf3\x30\xff\xff\xff\xff\xff\xff\xff\xff\x07\x00\x14\x00\x69\x64\x78\x2e"
    "\x6e"
    "\x70\x79\x01\x00\x10\x00\x98\x00\x00\x00\x00\x00\x00\x00\x4e\x00\x00\x00\x00\x00\x00\x00\x9b"
    "\xec"
    "\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad\x9e\x92\x5a\x9c\x5c\xa4\x6e\xa5\xa0\x6e\x93\x69\xa1"
    "\xae"
    "\xa3\xa0\x9e\x96\x5f\x54\x52\x94\x98\x17\x9f\x5f\x94\x92\x0a\x12\x77\x4b\xcc\x29\x4e\x05\x8a"
    "\x17"
    "\x67\x24\x16\xa4\x02\xf9\x1a\xc6\x3a\x9a\x3a\x0a\xb5\x0a\x14\x00\x2e\x46\x06\x08\xf8\xf7\x1f"
    "\x02"
    "\x98\xa1\x7c\x00\x50\x4b\x03\x04\x2d\x00\x00\x00\x08\x00\x00\x00\x21\x00\x82\x2d\xf8\xd3\xff"
    "\xff"
    "\xff\xff\xff\xff\xff\xff\x08\x00\x14\x00\x66\x6c\x61\x67\x2e\x6e\x70\x79\x01\x00\x10\x00\x81"
    "\x00"
    "\x00\x00\x00\x00\x00\x00\x43\x00\x00\x00\x00\x00\x00\x00\x9b\xec\x17\xea\x1b\x10\xc9\xc8\x50"
    "\xc6"
    "\x50\xad\x9e\x92\x5a\x9c\x5c\xa4\x6e\xa5\xa0\x5e\x93\x64\xa8\xae\xa3\xa0\x9e\x96\x5f\x54\x52"
    "\x94"
    "\x98\x17\x9f\x5f\x94\x92\x0a\x12\x77\x4b\xcc\x29\x4e\x05\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a"
    "\x9a"
    "\x3a\x0a\xb5\x0a\x14\x01\x2e\x46\x00\x50\x4b\x01\x02\x2d\x03\x2d\x00\x00\x00\x08\x00\x00\x00"
    "\x21"
    "\x00\x2d\x6f\x22\x26\x66\x00\x00\x00\xb0\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00"
    "\x00\x80\x01\x00\x00\x00\x00\x61\x2e\x6e\x70\x79\x50\x4b\x01\x02\x2d\x03\x2d\x00\x00\x00\x08"
    "\x00"
    "\x00\x00\x21\x00\x74\xa8\xf3\x30\x4e\x00\x00\x00\x98\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00"
    "\x00"
    "\x00\x00\x00\x00\x80\x01\x9d\x00\x00\x00\x69\x64\x78\x2e\x6e\x70\x79\x50\x4b\x01\x02\x2d\x03"
    "\x2d"
    "\x00\x00\x00\x08\x00\x00\x00\x21\x00\x82\x2d\xf8\xd3\x43\x00\x00\x00\x81\x00\x00\x00\x08\x00"
    "\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x24\x01\x00\x00\x66\x6c\x61\x67\x2e\x6e\x70\x79"
    "\x50"
    "\x4b\x05\x06\x00\x00\x00\x00\x03\x00\x03\x00\x9e\x00\x00\x00\xa1\x01\x00\x00\x00\x00";

TEST(RuntimeNpz, ReadsNumPySavezCompressed) {
  std::vector<NamedTensor> arrays;
  Status st = parseNpz(kNumpyNpz, sizeof(kNumpyNpz) - 1, &arrays);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(arrays.size(), 3u);
  EXPECT_EQ(arrays[0].name, "a");
  EXPECT_EQ(arrays[0].tensor.dtype, DType::F32);
  EXPECT_EQ(arrays[0].tensor.shape, (std::vector<int64_t>{3, 4}));
  for (int i = 0; i < 12; ++i)
    EXPECT_EQ(arrays[0].tensor.as<float>()[i], static_cast<float>(i));
  EXPECT_EQ(arrays[1].name, "idx");
  EXPECT_EQ(arrays[1].tensor.dtype, DType::I64);
  EXPECT_EQ(arrays[1].tensor.as<int64_t>()[1], -2);
  EXPECT_EQ(arrays[2].name, "flag");
  EXPECT_EQ(arrays[2].tensor.dtype, DType::Bool);
  EXPECT_TRUE(arrays[2].tensor.shape.empty());
  EXPECT_EQ(arrays[2].tensor.data, std::vector<uint8_t>{1});
}

TEST(RuntimeNpz, RoundTrip) {
  const Tensor a = makeTensor(DType::F32, {2, 3}, 1), b = makeTensor(DType::BF16, {4}, 2),
               c = makeTensor(DType::Bool, {}, 3);
  std::string zip;
  ASSERT_TRUE(
      serializeNpz({{"a", a.view()}, {"layer.0/w", b.view()}, {"c", c.view()}}, &zip).isOk());
  std::vector<NamedTensor> arrays;
  ASSERT_TRUE(parseNpz(zip.data(), zip.size(), &arrays).isOk());
  ASSERT_EQ(arrays.size(), 3u);
  EXPECT_EQ(arrays[1].name, "layer.0/w");
  EXPECT_EQ(arrays[1].tensor.dtype, DType::BF16);
  EXPECT_EQ(arrays[1].tensor.data, b.data);
  EXPECT_EQ(arrays[2].tensor.data, c.data);

  // Files.
  const std::string path =
      ::testing::TempDir() + "/precis_npz_" + std::to_string(::getpid()) + ".npz";
  ASSERT_TRUE(writeNpz(path, {{"x", a.view()}}).isOk());
  ASSERT_TRUE(readNpz(path, &arrays).isOk());
  EXPECT_EQ(arrays[0].tensor.data, a.data);
  const std::string npyPath = path + ".npy";
  ASSERT_TRUE(writeNpy(npyPath, b.view()).isOk());
  Tensor back;
  ASSERT_TRUE(readNpy(npyPath, &back).isOk());
  EXPECT_EQ(back.data, b.data);
  std::remove(path.c_str());
  std::remove(npyPath.c_str());
  EXPECT_STATUS(readNpy("/nonexistent/x.npy", &back), NotFound, "/nonexistent/x.npy");

  EXPECT_STATUS(serializeNpz({{"a", a.view()}, {"a", a.view()}}, &zip), InvalidArgument,
                "two arrays are named 'a'");
  EXPECT_STATUS(serializeNpz({{"", a.view()}}, &zip), InvalidArgument, "empty name");
}

TEST(RuntimeNpz, Malformed) {
  std::vector<NamedTensor> arrays;
  EXPECT_STATUS(parseNpz("PK", 2, &arrays), InvalidArgument, "not a zip archive");
  EXPECT_STATUS(parseNpz(std::string(100, 'x').data(), 100, &arrays), InvalidArgument,
                "no end of central directory");
  // Damage the DEFLATE stream of the first entry: inflate or the CRC must catch it.
  std::string zip(reinterpret_cast<const char *>(kNumpyNpz), sizeof(kNumpyNpz) - 1);
  std::string bad = zip;
  bad[60] = static_cast<char>(bad[60] ^ 0x55);
  Status st = parseNpz(bad.data(), bad.size(), &arrays);
  EXPECT_EQ(st.code(), StatusCode::InvalidArgument) << st.message();
  EXPECT_NE(st.message().find("zip entry 'a.npy'"), std::string::npos) << st.message();
}

TEST(RuntimeNpz, EveryTruncationAndManyOverwrites) {
  std::string stored;
  const Tensor a = makeTensor(DType::F32, {2, 3}, 1), b = makeTensor(DType::I64, {2}, 2);
  ASSERT_TRUE(serializeNpz({{"a", a.view()}, {"b", b.view()}}, &stored).isOk());
  const std::string deflated(reinterpret_cast<const char *>(kNumpyNpz), sizeof(kNumpyNpz) - 1);
  std::vector<NamedTensor> arrays;
  for (const std::string &good : {stored, deflated}) {
    ASSERT_TRUE(parseNpz(good.data(), good.size(), &arrays).isOk());
    for (size_t len = 0; len < good.size(); ++len) {
      std::string cut = good.substr(0, len); // a copy of exactly len bytes, for ASan
      EXPECT_FALSE(parseNpz(cut.data(), cut.size(), &arrays).isOk()) << "length " << len;
    }
    std::mt19937 rng(42);
    int accepted = 0;
    for (size_t i = 0; i < good.size(); ++i) {
      for (int k = 0; k < 8; ++k) {
        std::string bad = good;
        bad[i] = static_cast<char>(k == 0 ? bad[i] ^ 0xFF : rng());
        accepted += parseNpz(bad.data(), bad.size(), &arrays).isOk();
      }
    }
    std::printf("npz overwrites accepted: %d of %zu\n", accepted, good.size() * 8);
  }
}

TEST(RuntimeNpy, EveryTruncationAndOverwrite) {
  std::string good;
  ASSERT_TRUE(serializeNpy(makeTensor(DType::F32, {2, 3}, 1).view(), &good).isOk());
  Tensor t;
  for (size_t len = 0; len < good.size(); ++len) {
    std::string cut = good.substr(0, len);
    EXPECT_FALSE(parseNpy(cut.data(), cut.size(), &t).isOk()) << "length " << len;
  }
  for (size_t i = 0; i < good.size(); ++i)
    for (int v = 0; v < 256; v += 5) {
      std::string bad = good;
      bad[i] = static_cast<char>(v);
      (void)parseNpy(bad.data(), bad.size(), &t);
    }
}

} // namespace
