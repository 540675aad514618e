//===- Artifact.cpp - loading and validating .precis artifacts -------------===//
//
// Reads the header, parses the manifest and checks every rule of the format (docs/runtime.md
// lists them) before the descriptors are handed out. The checks run in dependency order —
// header, blobs, values, functions — so each can rely on the ones before it; arithmetic on
// untrusted sizes is overflow-checked.
//
//===----------------------------------------------------------------------===//

#include "Artifact.h"

#include "precis/runtime/Random.h"
#include "precis/runtime/numerics.h"
#include "precis/schema/artifact.pb.h"

#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace precis::rt {

std::string quoted(const std::string &s) {
  constexpr size_t kMaxShown = 80;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > kMaxShown)
    out += "...";
  return out + "\"";
}

namespace {

constexpr uint64_t kAlign = schema::kDataAlignment;
constexpr uint64_t kHeaderSize = schema::kHeaderSize;

uint64_t readLE(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

/// `x` rounded up to the data alignment; x must be below 2^64 - 64 (file offsets are).
uint64_t alignUp(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

/// True when [offset, offset + size) lies inside [0, limit), computed without overflow.
bool fitsIn(uint64_t offset, uint64_t size, uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

std::string str(uint64_t x) { return std::to_string(x); }

std::string valueRef(uint32_t index, const std::string &name) {
  std::string s = "value " + str(index);
  if (!name.empty())
    s += " (" + quoted(name) + ")";
  return s;
}

std::string opRef(const std::string &fn, int index, const schema::Op &op) {
  std::string s = "function " + quoted(fn) + " op " + std::to_string(index);
  if (!op.kind().empty())
    s += " " + quoted(op.kind());
  if (!op.name().empty())
    s += " (node " + quoted(op.name()) + ")";
  return s;
}

Status convertAttr(const schema::Attr &a, AttrValue *out) {
  using K = schema::Attr::KindCase;
  switch (a.kind_case()) {
  case K::kI:
    out->kind = AttrValue::Kind::Int;
    out->i = a.i();
    return Status::ok();
  case K::kF:
    out->kind = AttrValue::Kind::Float;
    out->f = a.f();
    return Status::ok();
  case K::kS:
    out->kind = AttrValue::Kind::String;
    out->s = a.s();
    return Status::ok();
  case K::kInts:
    out->kind = AttrValue::Kind::Ints;
    out->ints.assign(a.ints().values().begin(), a.ints().values().end());
    return Status::ok();
  case K::kFloats:
    out->kind = AttrValue::Kind::Floats;
    out->floats.assign(a.floats().values().begin(), a.floats().values().end());
    return Status::ok();
  case K::KIND_NOT_SET:
    break;
  }
  return invalidArtifact("has no value");
}

bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16;
}

/// Fills `count` elements of `dtype` at `out` from `init` (the rule in artifact.proto).
void generateParameter(const schema::ParamInit &init, DType dtype, uint64_t count, uint8_t *out) {
  for (uint64_t i = 0; i < count; ++i) {
    double x = init.value();
    if (init.kind() == schema::ParamInit::UNIFORM) {
      const uint64_t z = splitmix64Mix(init.seed() + (i + 1) * kSplitMix64Increment);
      const double u = static_cast<double>(z >> 40) * 0x1p-24;
      x = (2 * u - 1) * init.bound();
    }
    switch (dtype) {
    case DType::F64:
      std::memcpy(out + 8 * i, &x, 8);
      break;
    case DType::F32: {
      const float f = static_cast<float>(x);
      std::memcpy(out + 4 * i, &f, 4);
      break;
    }
    case DType::BF16: {
      const uint16_t h = float_to_bf16(static_cast<float>(x));
      std::memcpy(out + 2 * i, &h, 2);
      break;
    }
    case DType::F16: {
      const uint16_t h = float_to_fp16(static_cast<float>(x));
      std::memcpy(out + 2 * i, &h, 2);
      break;
    }
    default:
      break; // rejected by parse()
    }
  }
}

} // namespace

uint64_t Artifact::fingerprint() const {
  uint64_t h = 0xCBF29CE484222325ull;
  for (uint64_t i = 0; i < size_; ++i) {
    h ^= bytes_[i];
    h *= 0x100000001B3ull;
  }
  return h;
}

Artifact::~Artifact() {
  std::free(generated_);
  if (mapped_)
    ::munmap(const_cast<uint8_t *>(bytes_), size_);
  else
    std::free(const_cast<uint8_t *>(bytes_));
}

Status Artifact::openFile(const std::string &path, std::unique_ptr<Artifact> *out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string m = "cannot open artifact " + quoted(path) + ": " + std::strerror(err);
    return err == ENOENT ? notFound(m) : ioError(m);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return ioError("artifact " + quoted(path) + " is not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kHeaderSize) {
    ::close(fd);
    return invalidArtifact(path + ": file is " + str(size) + " bytes, shorter than the " +
                           str(kHeaderSize) + "-byte header");
  }
  void *p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (p == MAP_FAILED)
    return ioError("cannot map artifact " + quoted(path) + ": " + std::strerror(err));

  std::unique_ptr<Artifact> a(new Artifact());
  a->bytes_ = static_cast<const uint8_t *>(p);
  a->size_ = size;
  a->mapped_ = true;
  PRECIS_RETURN_IF_ERROR(withContext(a->parse(), path));
  *out = std::move(a);
  return Status::ok();
}

Status Artifact::fromMemory(const void *data, size_t size, std::unique_ptr<Artifact> *out) {
  if (size < kHeaderSize)
    return invalidArtifact("artifact is " + str(size) + " bytes, shorter than the " +
                           str(kHeaderSize) + "-byte header");
  if (!data)
    return invalidArgument("artifact buffer is null");
  if (size > SIZE_MAX - kAlign)
    return invalidArgument("artifact buffer of " + str(size) + " bytes is too large");
  void *copy = std::aligned_alloc(kAlign, alignUp(size));
  if (!copy)
    return internalError("cannot allocate " + str(size) + " bytes for the artifact");
  std::memcpy(copy, data, size);

  std::unique_ptr<Artifact> a(new Artifact());
  a->bytes_ = static_cast<const uint8_t *>(copy);
  a->size_ = size;
  a->mapped_ = false;
  PRECIS_RETURN_IF_ERROR(a->parse());
  *out = std::move(a);
  return Status::ok();
}

Status Artifact::parse() {
  // Header.
  if (size_ < kHeaderSize)
    return invalidArtifact("file is " + str(size_) + " bytes, shorter than the " +
                           str(kHeaderSize) + "-byte header");
  if (std::memcmp(bytes_, schema::kArtifactMagic, sizeof(schema::kArtifactMagic)) != 0)
    return invalidArtifact("not a precis artifact (bad magic)");
  const uint64_t version = readLE(bytes_ + 8, 4);
  if (version != kFormatVersion)
    return invalidArtifact("artifact format version " + str(version) +
                           "; this runtime reads version " + str(kFormatVersion));
  if (uint64_t reserved = readLE(bytes_ + 12, 4))
    return invalidArtifact("reserved header field is " + str(reserved) + ", expected 0");
  const uint64_t manifestSize = readLE(bytes_ + 16, 8);
  if (manifestSize > size_ - kHeaderSize)
    return invalidArtifact("manifest size " + str(manifestSize) +
                           " extends past the end of the file (" + str(size_) + " bytes)");
  if (manifestSize > static_cast<uint64_t>(INT_MAX))
    return invalidArtifact("manifest size " + str(manifestSize) + " exceeds 2 GiB");

  schema::Manifest m;
  {
    // A corrupt manifest is our error to report: keep protobuf from also logging to stderr
    // (it does for invalid UTF-8 in string fields).
#if GOOGLE_PROTOBUF_VERSION < 4022000
    google::protobuf::LogSilencer silence;
#endif
    if (!m.ParseFromArray(bytes_ + kHeaderSize, static_cast<int>(manifestSize)))
      return invalidArtifact("the manifest (" + str(manifestSize) + " bytes) does not parse");
  }

  const uint64_t dataStart = alignUp(kHeaderSize + manifestSize);
  if (dataStart > size_)
    return invalidArtifact("file ends at byte " + str(size_) + ", before the data section (byte " +
                           str(dataStart) + ")");
  for (uint64_t i = kHeaderSize + manifestSize; i < dataStart; ++i)
    if (bytes_[i] != 0)
      return invalidArtifact("nonzero padding byte at offset " + str(i) +
                             " between the manifest and the data section");
  dataSection_ = bytes_ + dataStart;
  dataSize_ = size_ - dataStart;
  producer_ = m.producer();
  target_ = m.target();
  arenaSize_ = m.arena_size();
  for (const schema::Kernel &k : m.kernels())
    kernels_.push_back({k.name(), k.ptx(), k.cubin()});

  // Blobs: checked where a value first uses them (so the message names the value), and the
  // unused ones at the end.
  auto checkBlob = [&](int j) -> Status {
    const schema::Blob &b = m.blobs(j);
    if (b.has_init()) {
      const schema::ParamInit &init = b.init();
      const std::string ref = "blob " + std::to_string(j);
      if (b.offset() != 0)
        return invalidArtifact(ref + " is generated (init) but has data offset " + str(b.offset()));
      if (init.kind() != schema::ParamInit::UNIFORM && init.kind() != schema::ParamInit::CONSTANT)
        return invalidArtifact(ref + ": unknown init kind " + std::to_string(init.kind()));
      if (!std::isfinite(init.bound()) || init.bound() < 0 || !std::isfinite(init.value()))
        return invalidArtifact(ref + ": init bound " + std::to_string(init.bound()) + " / value " +
                               std::to_string(init.value()) + " must be finite (bound >= 0)");
      return Status::ok();
    }
    if (b.offset() % kAlign != 0)
      return invalidArtifact("blob " + std::to_string(j) + " offset " + str(b.offset()) +
                             " is not a multiple of " + str(kAlign));
    if (!fitsIn(b.offset(), b.size(), dataSize_))
      return invalidArtifact("blob " + std::to_string(j) + " [offset " + str(b.offset()) +
                             ", size " + str(b.size()) + "] extends past the data section (" +
                             str(dataSize_) + " bytes)");
    return Status::ok();
  };

  // Values.
  const uint32_t numValues = static_cast<uint32_t>(m.values_size());
  values_.resize(numValues);
  std::vector<bool> blobUsed(m.blobs_size(), false);
  std::map<std::string, uint32_t> parameterNames;
  std::map<uint32_t, DType> generatedType; // generated blob -> the dtype it is filled in
  for (uint32_t i = 0; i < numValues; ++i) {
    const schema::Value &pv = m.values(static_cast<int>(i));
    ValueDesc &v = values_[i];
    v.name = pv.name();
    const std::string ref = valueRef(i, v.name);

    const int rawType = static_cast<int>(pv.type().dtype());
    if (rawType < static_cast<int>(DType::F32) || rawType > static_cast<int>(DType::Bool))
      return invalidArtifact(ref + ": unknown dtype " + std::to_string(rawType));
    v.dtype = static_cast<DType>(rawType);
    uint64_t count = 1;
    for (int k = 0; k < pv.type().shape_size(); ++k) {
      const int64_t d = pv.type().shape(k);
      if (d < 0)
        return invalidArtifact(ref + ": negative dimension " + std::to_string(d) + " at axis " +
                               std::to_string(k));
      if (__builtin_mul_overflow(count, static_cast<uint64_t>(d), &count))
        return invalidArtifact(ref + ": element count overflows");
      v.shape.push_back(d);
    }
    if (__builtin_mul_overflow(count, dtypeSize(v.dtype), &v.byteSize) ||
        v.byteSize > static_cast<uint64_t>(INT64_MAX))
      return invalidArtifact(ref + ": byte size of " + typeString(v.dtype, v.shape) + " overflows");

    if (!schema::Value_Role_IsValid(pv.role()) || pv.role() > schema::Value::RNG_STATE)
      return invalidArtifact(ref + ": unknown role " + std::to_string(pv.role()));
    static_assert(static_cast<int>(Role::Loss) == schema::Value::LOSS &&
                  static_cast<int>(Role::BatchNormStats) == schema::Value::BATCH_NORM_STATS &&
                  static_cast<int>(Role::RngState) == schema::Value::RNG_STATE &&
                  static_cast<int>(Role::Parameter) == schema::Value::PARAMETER);
    v.role = static_cast<Role>(pv.role());
    if (pv.has_updates())
      v.updates = pv.updates();

    switch (pv.storage_case()) {
    case schema::Value::kArenaOffset:
      v.storage = Storage::Arena;
      v.offset = pv.arena_offset();
      if (v.offset % kAlign != 0)
        return invalidArtifact(ref + ": arena offset " + str(v.offset) + " is not a multiple of " +
                               str(kAlign));
      if (!fitsIn(v.offset, v.byteSize, arenaSize_))
        return invalidArtifact(ref + ": arena range [offset " + str(v.offset) + ", size " +
                               str(v.byteSize) + "] extends past the arena (" + str(arenaSize_) +
                               " bytes)");
      break;
    case schema::Value::kBlob: {
      v.storage = Storage::Blob;
      v.index = pv.blob();
      if (v.index >= static_cast<uint32_t>(m.blobs_size()))
        return invalidArtifact(ref + ": blob index " + str(v.index) + " out of range (" +
                               std::to_string(m.blobs_size()) + " blobs)");
      const schema::Blob &b = m.blobs(static_cast<int>(v.index));
      if (!blobUsed[v.index])
        PRECIS_RETURN_IF_ERROR(withContext(checkBlob(static_cast<int>(v.index)), ref));
      if (b.size() != v.byteSize)
        return invalidArtifact(ref + ": blob " + str(v.index) + " holds " + str(b.size()) +
                               " bytes, but " + typeString(v.dtype, v.shape) + " needs " +
                               str(v.byteSize));
      v.offset = b.offset();
      if (b.has_init()) {
        if (!isFloat(v.dtype) || v.name.empty())
          return invalidArtifact(
              ref + ": blob " + str(v.index) +
              " is generated (init), which only a floating-point "
              "parameter may be, not " +
              (v.name.empty() ? std::string("a constant") : typeString(v.dtype, v.shape)));
        auto [it, inserted] = generatedType.emplace(v.index, v.dtype);
        if (!inserted && it->second != v.dtype)
          return invalidArtifact(ref + ": generated blob " + str(v.index) +
                                 " is read with two dtypes");
        v.generated = true;
      }
      if (!blobUsed[v.index]) {
        blobUsed[v.index] = true;
        usedBlobBytes_ += b.size();
      }
      if (!v.name.empty()) {
        auto [it, inserted] = parameterNames.emplace(v.name, i);
        if (!inserted)
          return invalidArtifact(ref + ": parameter name is also used by value " + str(it->second));
      }
      break;
    }
    case schema::Value::kInput:
      v.storage = Storage::Input;
      v.index = pv.input();
      break;
    case schema::Value::STORAGE_NOT_SET:
      return invalidArtifact(ref + ": no storage (arena offset, blob or input)");
    }
  }

  // Initial values of training state: a blob of the input's own type.
  for (uint32_t i = 0; i < numValues; ++i) {
    const schema::Value &pv = m.values(static_cast<int>(i));
    if (!pv.has_initial_blob())
      continue;
    ValueDesc &v = values_[i];
    const std::string ref = valueRef(i, v.name);
    if (v.storage != Storage::Input)
      return invalidArtifact(ref + ": only function inputs have an initial value");
    const uint32_t j = pv.initial_blob();
    if (j >= static_cast<uint32_t>(m.blobs_size()))
      return invalidArtifact(ref + ": initial value blob " + str(j) + " out of range (" +
                             std::to_string(m.blobs_size()) + " blobs)");
    const schema::Blob &b = m.blobs(static_cast<int>(j));
    if (b.has_init())
      return invalidArtifact(ref + ": initial value blob " + str(j) +
                             " is generated (init); an initial value must hold bytes");
    if (!blobUsed[j]) {
      PRECIS_RETURN_IF_ERROR(withContext(checkBlob(static_cast<int>(j)), ref));
      blobUsed[j] = true;
      usedBlobBytes_ += b.size();
    }
    if (b.size() != v.byteSize)
      return invalidArtifact(ref + ": initial value blob " + str(j) + " holds " + str(b.size()) +
                             " bytes, but " + typeString(v.dtype, v.shape) + " needs " +
                             str(v.byteSize));
    v.hasInitialValue = true;
    v.initialOffset = b.offset();
  }

  for (int j = 0; j < m.blobs_size(); ++j)
    if (!blobUsed[j])
      PRECIS_RETURN_IF_ERROR(checkBlob(j));

  // Parameters stored without bytes: generate them, each 64-byte aligned in one allocation.
  if (!generatedType.empty()) {
    std::map<uint32_t, uint64_t> generatedOffset;
    uint64_t total = 0;
    for (const auto &[j, dtype] : generatedType) {
      const uint64_t size = m.blobs(static_cast<int>(j)).size();
      generatedOffset[j] = total;
      if (size > UINT64_MAX - total - kAlign)
        return invalidArtifact("generated parameters overflow");
      total = alignUp(total + size);
    }
    generated_ = static_cast<uint8_t *>(std::aligned_alloc(kAlign, total ? total : kAlign));
    if (!generated_)
      return internalError("cannot allocate " + str(total) + " bytes for generated parameters");
    for (const auto &[j, dtype] : generatedType) {
      const schema::Blob &b = m.blobs(static_cast<int>(j));
      generateParameter(b.init(), dtype, b.size() / dtypeSize(dtype),
                        generated_ + generatedOffset[j]);
    }
    for (ValueDesc &v : values_)
      if (v.generated)
        v.offset = generatedOffset[v.index];
  }

  // Functions.
  if (m.functions_size() == 0)
    return invalidArtifact("the artifact has no functions");
  functions_.resize(m.functions_size());
  std::vector<bool> written(numValues);
  for (int f = 0; f < m.functions_size(); ++f) {
    const schema::Function &pf = m.functions(f);
    FunctionDesc &fd = functions_[f];
    fd.name = pf.name();
    if (fd.name.empty())
      return invalidArtifact("function " + std::to_string(f) + " has no name");
    for (int g = 0; g < f; ++g)
      if (functions_[g].name == fd.name)
        return invalidArtifact("two functions are named " + quoted(fd.name));
    const std::string fref = "function " + quoted(fd.name);

    for (int p = 0; p < pf.inputs_size(); ++p) {
      const uint32_t idx = pf.inputs(p);
      if (idx >= numValues)
        return invalidArtifact(fref + " input " + std::to_string(p) + ": value index " + str(idx) +
                               " out of range (" + str(numValues) + " values)");
      const ValueDesc &v = values_[idx];
      if (v.storage != Storage::Input)
        return invalidArtifact(fref + " input " + std::to_string(p) + " is " +
                               valueRef(idx, v.name) + ", whose storage is not `input`");
      if (v.index != static_cast<uint32_t>(p))
        return invalidArtifact(fref + " input " + std::to_string(p) + " is " +
                               valueRef(idx, v.name) + ", whose input ordinal is " + str(v.index));
      fd.inputs.push_back(idx);
    }

    // Every value an op reads must be bound (a blob, or an input of this function) or
    // written by an earlier op of this function; ops write only activations.
    std::fill(written.begin(), written.end(), false);
    fd.ops.resize(pf.ops_size());
    for (int k = 0; k < pf.ops_size(); ++k) {
      const schema::Op &po = pf.ops(k);
      OpDesc &od = fd.ops[k];
      const std::string oref = opRef(fd.name, k, po);
      od.kind = po.kind();
      od.name = po.name();
      od.elementwise = po.elementwise();
      switch (po.phase()) {
      case schema::PHASE_FORWARD:
        od.phase = Phase::Forward;
        break;
      case schema::PHASE_BACKWARD:
        od.phase = Phase::Backward;
        break;
      case schema::PHASE_OPTIMIZER:
        od.phase = Phase::Optimizer;
        break;
      default:
        return invalidArtifact(oref + " has unknown phase " + std::to_string(po.phase()));
      }
      if (od.kind.empty())
        return invalidArtifact(oref + " has no kind");
      for (int p = 0; p < po.inputs_size(); ++p) {
        const uint32_t idx = po.inputs(p);
        if (idx >= numValues)
          return invalidArtifact(oref + " operand " + std::to_string(p) + ": value index " +
                                 str(idx) + " out of range (" + str(numValues) + " values)");
        const ValueDesc &v = values_[idx];
        if (v.storage == Storage::Input &&
            (v.index >= fd.inputs.size() || fd.inputs[v.index] != idx))
          return invalidArtifact(oref + " reads " + valueRef(idx, v.name) + ", an input that " +
                                 fref + " does not take");
        if (v.storage == Storage::Arena && !written[idx])
          return invalidArtifact(oref + " reads " + valueRef(idx, v.name) +
                                 " before any op writes it");
        od.inputs.push_back(idx);
      }
      for (int p = 0; p < po.outputs_size(); ++p) {
        const uint32_t idx = po.outputs(p);
        if (idx >= numValues)
          return invalidArtifact(oref + " result " + std::to_string(p) + ": value index " +
                                 str(idx) + " out of range (" + str(numValues) + " values)");
        const ValueDesc &v = values_[idx];
        if (v.storage != Storage::Arena)
          return invalidArtifact(oref + " writes " + valueRef(idx, v.name) + ", which is " +
                                 (v.storage == Storage::Blob ? "a blob" : "a function input") +
                                 ", not an arena value");
        od.outputs.push_back(idx);
      }
      for (uint32_t idx : od.outputs)
        written[idx] = true;
      std::map<std::string, AttrValue> attrs;
      for (const auto &[name, attr] : po.attrs()) {
        AttrValue value;
        PRECIS_RETURN_IF_ERROR(
            withContext(convertAttr(attr, &value), oref + " attribute " + quoted(name)));
        attrs.emplace(name, std::move(value));
      }
      od.attrs = Attrs(std::move(attrs));
    }

    for (int p = 0; p < pf.outputs_size(); ++p) {
      const uint32_t idx = pf.outputs(p);
      if (idx >= numValues)
        return invalidArtifact(fref + " output " + std::to_string(p) + ": value index " + str(idx) +
                               " out of range (" + str(numValues) + " values)");
      const ValueDesc &v = values_[idx];
      if (v.storage == Storage::Arena && !written[idx])
        return invalidArtifact(fref + " output " + std::to_string(p) + " (" +
                               valueRef(idx, v.name) + ") is never written");
      if (v.storage == Storage::Input && (v.index >= fd.inputs.size() || fd.inputs[v.index] != idx))
        return invalidArtifact(fref + " output " + std::to_string(p) + " is " +
                               valueRef(idx, v.name) + ", an input it does not take");
      // A state output names the input it becomes, which must hold the same kind of state.
      if (v.updates >= 0) {
        const std::string oref =
            fref + " output " + std::to_string(p) + " (" + valueRef(idx, v.name) + ")";
        if (static_cast<uint64_t>(v.updates) >= fd.inputs.size())
          return invalidArtifact(oref + " updates input " + std::to_string(v.updates) +
                                 ", but the function has " + std::to_string(fd.inputs.size()));
        const ValueDesc &in = values_[fd.inputs[v.updates]];
        if (in.dtype != v.dtype || in.shape != v.shape || in.role != v.role)
          return invalidArtifact(oref + " updates input " + std::to_string(v.updates) + " (" +
                                 valueRef(fd.inputs[v.updates], in.name) +
                                 "), which differs in type or role");
      }
      fd.outputs.push_back(idx);
    }
  }
  return Status::ok();
}

std::vector<size_t> allReduceWaitPoints(const FunctionDesc &fd) {
  const size_t n = fd.ops.size();
  std::vector<size_t> at(n);
  for (size_t k = 0; k < n; ++k) {
    at[k] = k + 1;
    if (fd.ops[k].kind != "all_reduce")
      continue;
    auto reads = [](const OpDesc &op, uint32_t v) {
      return std::find(op.inputs.begin(), op.inputs.end(), v) != op.inputs.end();
    };
    size_t wait = n;
    bool unread = false;
    for (uint32_t v : fd.ops[k].outputs) {
      size_t first = k + 1;
      while (first < n && !reads(fd.ops[first], v))
        ++first;
      wait = std::min(wait, first);
      unread |=
          first == n && std::find(fd.outputs.begin(), fd.outputs.end(), v) == fd.outputs.end();
    }
    at[k] = unread ? k + 1 : wait;
  }
  return at;
}

} // namespace precis::rt
