//===- Npy.cpp - NumPy .npy and .npz files ----------------------------------===//
//
// .npy: a magic, a version, a header length, a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces and a newline,
// then the raw data. The dict is parsed by a small strict parser for exactly that grammar (no
// Python evaluation).
//
// .npz: a zip archive. Entries are found through the central directory (NumPy writes local
// headers with zip64 placeholder sizes, so only the central directory has the real ones);
// zip64 end records and extra fields are followed when a 32-bit field is saturated. DEFLATE
// entries are inflated with zlib into a buffer of the recorded size, which is bounded by
// deflate's maximum ratio before anything is allocated; CRCs are checked.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Npy.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace precis::rt {
namespace {

const char kNpyMagic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

uint64_t readLE(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

void appendLE(std::string &out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

bool fitsIn(uint64_t offset, uint64_t size, uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

std::string str(uint64_t x) { return std::to_string(x); }

Status bad(const std::string &m) { return invalidArgument(m); }

//===----------------------------------------------------------------------===//
// dtype descriptors
//===----------------------------------------------------------------------===//

/// The dtypes .npy files carry, spelled as NumPy (and ml_dtypes, for bfloat16) write them.
constexpr struct {
  DType dtype;
  const char *descr;
} kDescrs[] = {{DType::F32, "<f4"},  {DType::F64, "<f8"}, {DType::F16, "<f2"},
               {DType::BF16, "<V2"}, {DType::I64, "<i8"}, {DType::I32, "<i4"},
               {DType::I8, "|i1"},   {DType::U8, "|u1"},  {DType::Bool, "|b1"}};

Status dtypeFromDescr(const std::string &descr, DType *out) {
  if (descr.size() == 3) {
    // Byte order: '<' or '|' (NumPy prints a loaded bfloat16 array as '|V2'); any for 1 byte.
    const char order = descr[0];
    const bool oneByte = descr[2] == '1';
    if (order == '>' && !oneByte)
      return unimplemented("big-endian dtype '" + descr + "' is not supported");
    if (order == '<' || order == '|' || (oneByte && (order == '>' || order == '='))) {
      for (const auto &d : kDescrs) {
        if (descr.compare(1, 2, d.descr + 1) == 0) {
          *out = d.dtype;
          return Status::ok();
        }
      }
      if (descr.compare(1, 2, "V1") == 0)
        return unimplemented("dtype '" + descr +
                             "' (1-byte void: an ml_dtypes fp8 type?) is not supported: "
                             "fp8 formats are not distinguishable in .npy files");
    }
  }
  return unimplemented("dtype '" + descr + "' is not supported");
}

Status descrOf(DType t, const char **out) {
  for (const auto &d : kDescrs) {
    if (d.dtype == t) {
      *out = d.descr;
      return Status::ok();
    }
  }
  if (t == DType::F8E4M3FN || t == DType::F8E5M2)
    return unimplemented(std::string(dtypeName(t)) +
                         " has no unambiguous .npy dtype; cast it to f32 first");
  return invalidArgument("tensor has no dtype");
}

/// Bytes of `dtype` x `shape`, failing on negative dimensions and overflow.
Status byteSizeOf(DType dtype, const std::vector<int64_t> &shape, uint64_t *out) {
  uint64_t bytes = dtypeSize(dtype);
  for (int64_t d : shape) {
    if (d < 0)
      return invalidArgument("negative dimension " + std::to_string(d));
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes) ||
        bytes > static_cast<uint64_t>(INT64_MAX))
      return invalidArgument("array size overflows");
  }
  *out = bytes;
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// The header dict
//===----------------------------------------------------------------------===//

/// A parser for the one dict literal NumPy writes: string keys; string, bool or int-tuple
/// values.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : s_(text) {}

  Status parse(std::string *descr, bool *fortran, std::vector<int64_t> *shape) {
    bool haveDescr = false, haveFortran = false, haveShape = false;
    skipSpace();
    if (!eat('{'))
      return bad("header is not a dict");
    while (true) {
      skipSpace();
      if (eat('}'))
        break;
      std::string key;
      PRECIS_RETURN_IF_ERROR(parseString(&key));
      skipSpace();
      if (!eat(':'))
        return bad("header: expected ':' after '" + key + "'");
      skipSpace();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          return unimplemented("structured dtypes are not supported (descr is not a string)");
        PRECIS_RETURN_IF_ERROR(parseString(descr));
        haveDescr = true;
      } else if (key == "fortran_order") {
        PRECIS_RETURN_IF_ERROR(parseBool(fortran));
        haveFortran = true;
      } else if (key == "shape") {
        PRECIS_RETURN_IF_ERROR(parseTuple(shape));
        haveShape = true;
      } else {
        return bad("header has an unexpected key '" + key + "'");
      }
      skipSpace();
      if (eat(','))
        continue;
      skipSpace();
      if (eat('}'))
        break;
      return bad("header: expected ',' or '}' after '" + key + "'");
    }
    skipSpace();
    if (pos_ != s_.size())
      return bad("header has text after the dict");
    if (!haveDescr || !haveFortran || !haveShape)
      return bad("header lacks 'descr', 'fortran_order' or 'shape'");
    return Status::ok();
  }

private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c || pos_ >= s_.size())
      return false;
    ++pos_;
    return true;
  }
  void skipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r'))
      ++pos_;
  }
  Status parseString(std::string *out) {
    const char q = peek();
    if (q != '\'' && q != '"')
      return bad("header: expected a string");
    ++pos_;
    size_t end = s_.find(q, pos_);
    if (end == std::string::npos)
      return bad("header: unterminated string");
    *out = s_.substr(pos_, end - pos_);
    if (out->find('\\') != std::string::npos)
      return bad("header: escapes in strings are not supported");
    pos_ = end + 1;
    return Status::ok();
  }
  Status parseBool(bool *out) {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      *out = true;
    } else if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      *out = false;
    } else {
      return bad("header: fortran_order is not True or False");
    }
    return Status::ok();
  }
  Status parseTuple(std::vector<int64_t> *out) {
    out->clear();
    if (!eat('('))
      return bad("header: shape is not a tuple");
    while (true) {
      skipSpace();
      if (eat(')'))
        return Status::ok();
      if (peek() < '0' || peek() > '9')
        return bad("header: shape has a non-integer or negative dimension");
      int64_t d = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(d, 10, &d) || __builtin_add_overflow(d, peek() - '0', &d))
          return bad("header: a shape dimension overflows");
        ++pos_;
      }
      eat('L'); // Python 2 longs
      out->push_back(d);
      skipSpace();
      if (eat(','))
        continue;
      skipSpace();
      if (eat(')'))
        return Status::ok();
      return bad("header: malformed shape tuple");
    }
  }

  const std::string &s_;
  size_t pos_ = 0;
};

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

/// Maps `path` read-only for the lifetime of the object.
class MappedFile {
public:
  Status open(const std::string &path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      std::string m = "cannot open '" + path + "': " + std::strerror(err);
      return err == ENOENT ? notFound(m) : ioError(m);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return ioError("'" + path + "' is not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void *p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        size_ = 0;
        return ioError("cannot map '" + path + "': " + std::strerror(err));
      }
      data_ = static_cast<const uint8_t *>(p);
    }
    ::close(fd);
    return Status::ok();
  }
  ~MappedFile() {
    if (data_)
      ::munmap(const_cast<uint8_t *>(data_), size_);
  }
  const uint8_t *data() const { return data_; }
  size_t size() const { return size_; }

private:
  const uint8_t *data_ = nullptr;
  size_t size_ = 0;
};

Status writeFile(const std::string &path, const std::string &bytes) {
  std::FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return ioError("cannot create '" + path + "': " + std::strerror(errno));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok)
    return ioError("cannot write '" + path + "'");
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Zip
//===----------------------------------------------------------------------===//

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kEndSize = 22, kCentralHeaderSize = 46, kLocalHeaderSize = 30;
/// zlib's deflate never compresses better than about 1032:1.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct ZipEntry {
  std::string name;
  uint16_t method = 0;
  uint16_t flags = 0;
  uint32_t crc = 0;
  uint64_t compressedSize = 0, size = 0, localOffset = 0;
};

/// Reads the central directory of the zip in [data, data + size).
Status readCentralDirectory(const uint8_t *data, uint64_t size, std::vector<ZipEntry> *out) {
  if (size < kEndSize)
    return bad("not a zip archive (" + str(size) + " bytes)");
  // The end record is the last 22 bytes, plus a comment of up to 65535 bytes.
  uint64_t end = size - kEndSize;
  const uint64_t lowest = size - kEndSize > 0xFFFF ? size - kEndSize - 0xFFFF : 0;
  while (readLE(data + end, 4) != kEndSig || end + kEndSize + readLE(data + end + 20, 2) != size) {
    if (end == lowest)
      return bad("not a zip archive (no end of central directory record)");
    --end;
  }
  const uint8_t *e = data + end;
  if (readLE(e + 4, 2) != 0 || readLE(e + 6, 2) != 0)
    return unimplemented("multi-disk zip archives are not supported");
  uint64_t count = readLE(e + 10, 2);
  uint64_t dirSize = readLE(e + 12, 4);
  uint64_t dirOffset = readLE(e + 16, 4);
  uint64_t dirLimit = end;
  if (count == 0xFFFF || dirSize == 0xFFFFFFFF || dirOffset == 0xFFFFFFFF) {
    // zip64: a locator just before the end record points at the zip64 end record.
    if (end < 20 || readLE(data + end - 20, 4) != kZip64LocatorSig)
      return bad("zip: saturated end record without a zip64 locator");
    const uint64_t z = readLE(data + end - 20 + 8, 8);
    if (!fitsIn(z, 56, end - 20) || readLE(data + z, 4) != kZip64EndSig)
      return bad("zip: bad zip64 end of central directory record");
    count = readLE(data + z + 32, 8);
    dirSize = readLE(data + z + 40, 8);
    dirOffset = readLE(data + z + 48, 8);
    dirLimit = z;
  }
  if (!fitsIn(dirOffset, dirSize, dirLimit))
    return bad("zip: central directory [offset " + str(dirOffset) + ", size " + str(dirSize) +
               "] lies outside the archive");
  if (count > dirSize / kCentralHeaderSize)
    return bad("zip: " + str(count) + " entries cannot fit a central directory of " + str(dirSize) +
               " bytes");

  const uint8_t *dir = data + dirOffset;
  uint64_t pos = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (!fitsIn(pos, kCentralHeaderSize, dirSize) || readLE(dir + pos, 4) != kCentralHeaderSig)
      return bad("zip: central directory entry " + str(i) + " is malformed");
    const uint8_t *h = dir + pos;
    ZipEntry entry;
    entry.flags = static_cast<uint16_t>(readLE(h + 8, 2));
    entry.method = static_cast<uint16_t>(readLE(h + 10, 2));
    entry.crc = static_cast<uint32_t>(readLE(h + 16, 4));
    entry.compressedSize = readLE(h + 20, 4);
    entry.size = readLE(h + 24, 4);
    const uint64_t nameLen = readLE(h + 28, 2), extraLen = readLE(h + 30, 2),
                   commentLen = readLE(h + 32, 2);
    entry.localOffset = readLE(h + 42, 4);
    if (!fitsIn(pos + kCentralHeaderSize, nameLen + extraLen + commentLen, dirSize))
      return bad("zip: central directory entry " + str(i) + " extends past the directory");
    entry.name.assign(reinterpret_cast<const char *>(h + kCentralHeaderSize), nameLen);
    // zip64 extended information: the saturated fields, in this order.
    const uint8_t *extra = h + kCentralHeaderSize + nameLen;
    for (uint64_t x = 0; x + 4 <= extraLen;) {
      const uint64_t id = readLE(extra + x, 2), len = readLE(extra + x + 2, 2);
      if (x + 4 + len > extraLen)
        return bad("zip: entry '" + entry.name + "' has a malformed extra field");
      if (id == 0x0001) {
        uint64_t at = x + 4;
        for (uint64_t *field : {&entry.size, &entry.compressedSize, &entry.localOffset}) {
          if (*field != 0xFFFFFFFF)
            continue;
          if (at + 8 > x + 4 + len)
            return bad("zip: entry '" + entry.name + "' has a short zip64 extra field");
          *field = readLE(extra + at, 8);
          at += 8;
        }
      }
      x += 4 + len;
    }
    out->push_back(std::move(entry));
    pos += kCentralHeaderSize + nameLen + extraLen + commentLen;
  }
  return Status::ok();
}

/// The stored or inflated bytes of `entry`; `*bytes` points into `data` or into `*storage`.
Status extract(const uint8_t *data, uint64_t size, const ZipEntry &entry, std::string *storage,
               const uint8_t **bytes) {
  const std::string ref = "zip entry '" + entry.name + "'";
  if (entry.flags & 1)
    return unimplemented(ref + " is encrypted");
  if (!fitsIn(entry.localOffset, kLocalHeaderSize, size) ||
      readLE(data + entry.localOffset, 4) != kLocalHeaderSig)
    return bad(ref + ": bad local header at offset " + str(entry.localOffset));
  const uint8_t *local = data + entry.localOffset;
  const uint64_t start =
      entry.localOffset + kLocalHeaderSize + readLE(local + 26, 2) + readLE(local + 28, 2);
  if (!fitsIn(start, entry.compressedSize, size))
    return bad(ref + ": data [offset " + str(start) + ", size " + str(entry.compressedSize) +
               "] extends past the archive (" + str(size) + " bytes)");
  const uint8_t *compressed = data + start;

  if (entry.method == 0) {
    if (entry.compressedSize != entry.size)
      return bad(ref + ": stored entry with different compressed and uncompressed sizes");
    *bytes = compressed;
  } else if (entry.method == 8) {
    if (entry.size / kMaxDeflateRatio > entry.compressedSize + 1)
      return bad(ref + ": " + str(entry.compressedSize) + " compressed bytes cannot inflate to " +
                 str(entry.size));
    storage->assign(entry.size, '\0');
    z_stream z;
    std::memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
      return internalError(ref + ": zlib initialisation failed");
    z.next_in = const_cast<Bytef *>(compressed);
    z.next_out = reinterpret_cast<Bytef *>(storage->data());
    // Feed and drain in chunks zlib's 32-bit counters can hold.
    uint64_t inLeft = entry.compressedSize, outLeft = entry.size;
    int rc = Z_OK;
    while (rc == Z_OK) {
      if (z.avail_in == 0 && inLeft) {
        z.avail_in = static_cast<uInt>(std::min<uint64_t>(inLeft, 1u << 30));
        inLeft -= z.avail_in;
      }
      if (z.avail_out == 0 && outLeft) {
        z.avail_out = static_cast<uInt>(std::min<uint64_t>(outLeft, 1u << 30));
        outLeft -= z.avail_out;
      }
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc == Z_BUF_ERROR && (z.avail_in || inLeft) && (z.avail_out || outLeft))
        rc = Z_OK; // only a refill was needed
    }
    const uint64_t produced = entry.size - outLeft - z.avail_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || produced != entry.size)
      return bad(ref + ": corrupt deflate data");
    *bytes = reinterpret_cast<const uint8_t *>(storage->data());
  } else {
    return unimplemented(ref + ": compression method " + std::to_string(entry.method) +
                         " is not supported (only STORED and DEFLATE)");
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < entry.size;) {
    const uInt chunk = static_cast<uInt>(std::min<uint64_t>(entry.size - done, 1u << 30));
    crc = crc32(crc, *bytes + done, chunk);
    done += chunk;
  }
  if (crc != entry.crc)
    return bad(ref + ": CRC mismatch");
  return Status::ok();
}

} // namespace

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

Status parseNpy(const void *data, size_t size, Tensor *out) {
  const auto *p = static_cast<const uint8_t *>(data);
  if (size < 10 || std::memcmp(p, kNpyMagic, sizeof kNpyMagic) != 0)
    return bad("not a .npy file (bad magic)");
  const int major = p[6], minor = p[7];
  uint64_t headerLen, headerStart;
  if (major == 1) {
    headerLen = readLE(p + 8, 2);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12)
      return bad(".npy file is truncated in its header");
    headerLen = readLE(p + 8, 4);
    headerStart = 12;
  } else {
    return unimplemented(".npy format version " + std::to_string(major) + "." +
                         std::to_string(minor) + " is not supported");
  }
  if (!fitsIn(headerStart, headerLen, size))
    return bad(".npy header of " + str(headerLen) + " bytes extends past the end of the file (" +
               str(size) + " bytes)");
  const std::string header(reinterpret_cast<const char *>(p + headerStart), headerLen);

  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  PRECIS_RETURN_IF_ERROR(HeaderParser(header).parse(&descr, &fortran, &shape));
  DType dtype = DType::Unspecified;
  PRECIS_RETURN_IF_ERROR(dtypeFromDescr(descr, &dtype));
  if (fortran)
    return unimplemented("Fortran-order arrays are not supported; save "
                         "np.ascontiguousarray(a) instead");
  uint64_t bytes;
  PRECIS_RETURN_IF_ERROR(byteSizeOf(dtype, shape, &bytes));
  const uint64_t have = size - (headerStart + headerLen);
  if (have != bytes)
    return bad(".npy data of " + typeString(dtype, shape) + " is " + str(bytes) +
               " bytes, but the file has " + str(have) + " after the header");
  out->dtype = dtype;
  out->shape = std::move(shape);
  out->data.assign(p + headerStart + headerLen, p + size);
  return Status::ok();
}

Status readNpy(const std::string &path, Tensor *out) {
  MappedFile file;
  PRECIS_RETURN_IF_ERROR(file.open(path));
  return withContext(parseNpy(file.data(), file.size(), out), path);
}

Status serializeNpy(const TensorView &tensor, std::string *out) {
  const char *descr = nullptr;
  PRECIS_RETURN_IF_ERROR(descrOf(tensor.dtype, &descr));
  uint64_t bytes;
  PRECIS_RETURN_IF_ERROR(byteSizeOf(tensor.dtype, tensor.shape, &bytes));
  if (bytes && !tensor.data)
    return invalidArgument("tensor has no data");
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape.size(); ++i)
    dict += (i ? ", " : "") + std::to_string(tensor.shape[i]);
  dict += tensor.shape.size() == 1 ? ",), }" : "), }";
  // Version 1.0 unless the header needs more than 64 KiB; spaces pad the header so that the
  // data starts at a multiple of 64, as NumPy does.
  size_t prefix = 10;
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  const bool v2 = total - prefix > 0xFFFF;
  if (v2) {
    prefix = 12;
    total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  }
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';

  out->clear();
  out->append(kNpyMagic, sizeof kNpyMagic);
  out->push_back(static_cast<char>(v2 ? 2 : 1));
  out->push_back(0);
  appendLE(*out, dict.size(), v2 ? 4 : 2);
  out->append(dict);
  out->append(static_cast<const char *>(tensor.data), bytes);
  return Status::ok();
}

Status writeNpy(const std::string &path, const TensorView &tensor) {
  std::string bytes;
  PRECIS_RETURN_IF_ERROR(withContext(serializeNpy(tensor, &bytes), path));
  return writeFile(path, bytes);
}

//===----------------------------------------------------------------------===//
// .npz
//===----------------------------------------------------------------------===//

Status parseNpz(const void *data, size_t size, std::vector<NamedTensor> *out) {
  const auto *p = static_cast<const uint8_t *>(data);
  std::vector<ZipEntry> entries;
  PRECIS_RETURN_IF_ERROR(readCentralDirectory(p, size, &entries));
  std::vector<NamedTensor> arrays;
  std::set<std::string> names;
  for (const ZipEntry &entry : entries) {
    constexpr std::string_view kSuffix = ".npy";
    if (entry.name.size() <= kSuffix.size() ||
        entry.name.compare(entry.name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
      return bad("zip entry '" + entry.name + "' is not a .npy file");
    NamedTensor array;
    array.name = entry.name.substr(0, entry.name.size() - kSuffix.size());
    if (!names.insert(array.name).second)
      return bad("the archive has two arrays named '" + array.name + "'");
    std::string storage;
    const uint8_t *bytes;
    PRECIS_RETURN_IF_ERROR(extract(p, size, entry, &storage, &bytes));
    PRECIS_RETURN_IF_ERROR(
        withContext(parseNpy(bytes, entry.size, &array.tensor), "array '" + array.name + "'"));
    arrays.push_back(std::move(array));
  }
  *out = std::move(arrays);
  return Status::ok();
}

Status readNpz(const std::string &path, std::vector<NamedTensor> *out) {
  MappedFile file;
  PRECIS_RETURN_IF_ERROR(file.open(path));
  return withContext(parseNpz(file.data(), file.size(), out), path);
}

Status serializeNpz(const std::vector<std::pair<std::string, TensorView>> &arrays,
                    std::string *out) {
  std::string zip, directory;
  std::set<std::string> names;
  if (arrays.size() > 0xFFFF)
    return unimplemented("npz archives with more than 65535 arrays are not supported");
  for (const auto &[name, tensor] : arrays) {
    if (name.empty())
      return invalidArgument("an array has an empty name");
    if (!names.insert(name).second)
      return invalidArgument("two arrays are named '" + name + "'");
    std::string npy;
    PRECIS_RETURN_IF_ERROR(withContext(serializeNpy(tensor, &npy), "array '" + name + "'"));
    const std::string file = name + ".npy";
    if (npy.size() >= 0xFFFFFFFF || zip.size() >= 0xFFFFFFFF || file.size() > 0xFFFF)
      return unimplemented("npz archives over 4 GiB are not supported");
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t done = 0; done < npy.size();) {
      const uInt chunk = static_cast<uInt>(std::min<size_t>(npy.size() - done, 1u << 30));
      crc = crc32(crc, reinterpret_cast<const Bytef *>(npy.data() + done), chunk);
      done += chunk;
    }
    const uint64_t offset = zip.size();
    // Local header: version 2.0, no flags, STORED, DOS time 00:00 on 1980-01-01.
    appendLE(zip, kLocalHeaderSig, 4);
    appendLE(zip, 20, 2);
    appendLE(zip, 0, 2);
    appendLE(zip, 0, 2);
    appendLE(zip, 0, 2);
    appendLE(zip, 0x21, 2);
    appendLE(zip, crc, 4);
    appendLE(zip, npy.size(), 4);
    appendLE(zip, npy.size(), 4);
    appendLE(zip, file.size(), 2);
    appendLE(zip, 0, 2);
    zip += file;
    zip += npy;

    appendLE(directory, kCentralHeaderSig, 4);
    appendLE(directory, 20, 2); // made by: MS-DOS, 2.0
    appendLE(directory, 20, 2);
    appendLE(directory, 0, 2);
    appendLE(directory, 0, 2);
    appendLE(directory, 0, 2);
    appendLE(directory, 0x21, 2);
    appendLE(directory, crc, 4);
    appendLE(directory, npy.size(), 4);
    appendLE(directory, npy.size(), 4);
    appendLE(directory, file.size(), 2);
    appendLE(directory, 0, 2); // extra
    appendLE(directory, 0, 2); // comment
    appendLE(directory, 0, 2); // disk
    appendLE(directory, 0, 2); // internal attributes
    appendLE(directory, 0, 4); // external attributes
    appendLE(directory, offset, 4);
    directory += file;
  }
  if (zip.size() + directory.size() >= 0xFFFFFFFF)
    return unimplemented("npz archives over 4 GiB are not supported");
  const uint64_t dirOffset = zip.size();
  zip += directory;
  appendLE(zip, kEndSig, 4);
  appendLE(zip, 0, 2);
  appendLE(zip, 0, 2);
  appendLE(zip, arrays.size(), 2);
  appendLE(zip, arrays.size(), 2);
  appendLE(zip, directory.size(), 4);
  appendLE(zip, dirOffset, 4);
  appendLE(zip, 0, 2);
  *out = std::move(zip);
  return Status::ok();
}

Status writeNpz(const std::string &path,
                const std::vector<std::pair<std::string, TensorView>> &arrays) {
  std::string bytes;
  PRECIS_RETURN_IF_ERROR(withContext(serializeNpz(arrays, &bytes), path));
  return writeFile(path, bytes);
}

} // namespace precis::rt
