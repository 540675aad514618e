//===- PrecisResources.cpp - large constants as dense_resource blobs -*- C++ -*-===//
//
// Parameters and large constants keep their data out of line, in `dense_resource` blobs (the
// file's `{-# dialect_resources: ... #-}` section, as upstream MLIR does), so that an op of
// the printed IR fits on one line and the data can be elided for people to read. Everything
// that reads constant data goes through getDenseElements, which sees both storages alike.
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringExtras.h"

#include <cstring>

using namespace mlir;
using namespace mlir::precis;

namespace {

/// Data of `type` stays inline whatever it holds: it is small, or of a sub-byte type other
/// than i1 (which has no blob layout).
bool alwaysInline(ShapedType type) {
  int64_t limit = isa<FloatType>(type.getElementType()) ? kInlineFloatLimit : kInlineIntegerLimit;
  return type.getNumElements() <= limit ||
         (type.getElementTypeBitWidth() % 8 && !type.getElementType().isInteger(1));
}

ElementsAttr makeBlob(ShapedType type, ArrayRef<char> bytes, StringRef name) {
  // A blob key is an identifier; the context makes it unique by appending a number.
  std::string key;
  for (char c : name)
    key += llvm::isAlnum(c) || c == '_' || c == '.' ? c : '_';
  if (key.empty() || !(llvm::isAlpha(key[0]) || key[0] == '_'))
    key = "_" + key;
  return DenseResourceElementsAttr::get(
      type, key, HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(uint64_t)));
}

} // namespace

ElementsAttr mlir::precis::storeElements(DenseElementsAttr value, StringRef name) {
  auto type = cast<ShapedType>(value.getType());
  if (value.isSplat() || alwaysInline(type))
    return value;
  // Blobs hold one byte per i1 (upstream's DenseBoolResourceElementsAttr); inline i1 data is
  // bit-packed.
  if (type.getElementType().isInteger(1)) {
    SmallVector<char> bools;
    for (bool b : value.getValues<bool>())
      bools.push_back(b);
    return makeBlob(type, bools, name);
  }
  return makeBlob(type, value.getRawData(), name);
}

ElementsAttr mlir::precis::storeElements(ShapedType type, ArrayRef<char> bytes, StringRef name) {
  if (alwaysInline(type))
    return denseFromBytes(type, bytes);
  size_t width = bytes.size() / type.getNumElements();
  for (size_t off = width; off < bytes.size(); off += width)
    if (std::memcmp(bytes.data(), bytes.data() + off, width))
      return makeBlob(type, bytes, name);
  return denseFromBytes(type, bytes); // a splat
}

DenseElementsAttr mlir::precis::denseFromBytes(ShapedType type, ArrayRef<char> bytes) {
  if (type.getElementType().isInteger(1)) {
    if (int64_t(bytes.size()) != type.getNumElements())
      return {};
    SmallVector<bool> bools;
    for (char c : bytes)
      bools.push_back(c != 0);
    return DenseElementsAttr::get(type, bools);
  }
  if (type.getNumElements() == 0)
    return DenseElementsAttr::get(type, ArrayRef<Attribute>());
  bool splat = false;
  if (!DenseElementsAttr::isValidRawBuffer(type, bytes, splat))
    return {};
  return DenseElementsAttr::getFromRawBuffer(type, bytes);
}

DenseElementsAttr mlir::precis::getDenseElements(Attribute value) {
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(value))
    return dense;
  auto resource = dyn_cast_or_null<DenseResourceElementsAttr>(value);
  if (!resource)
    return {};
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  return blob ? denseFromBytes(resource.getType(), blob->getData()) : DenseElementsAttr();
}
