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

using namespace mlir;
using namespace mlir::precis;

ElementsAttr mlir::precis::storeElements(DenseElementsAttr value, StringRef name) {
  auto type = cast<ShapedType>(value.getType());
  bool isBool = type.getElementType().isInteger(1);
  if (value.isSplat() || type.getNumElements() <= kInlineElementLimit ||
      (type.getElementTypeBitWidth() % 8 && !isBool))
    return value;
  // Blobs hold one byte per i1 (upstream's DenseBoolResourceElementsAttr); inline i1 data is
  // bit-packed.
  ArrayRef<char> data = value.getRawData();
  SmallVector<char> bools;
  if (isBool) {
    for (bool b : value.getValues<bool>())
      bools.push_back(b);
    data = bools;
  }
  // A blob key is an identifier; the context makes it unique by appending a number.
  std::string key;
  for (char c : name)
    key += llvm::isAlnum(c) || c == '_' || c == '.' ? c : '_';
  if (key.empty() || !(llvm::isAlpha(key[0]) || key[0] == '_'))
    key = "_" + key;
  return DenseResourceElementsAttr::get(
      type, key, HeapAsmResourceBlob::allocateAndCopyWithAlign(data, alignof(uint64_t)));
}

DenseElementsAttr mlir::precis::getDenseElements(Attribute value) {
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(value))
    return dense;
  auto resource = dyn_cast_or_null<DenseResourceElementsAttr>(value);
  if (!resource)
    return {};
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return {};
  ShapedType type = resource.getType();
  ArrayRef<char> data = blob->getData();
  if (type.getElementType().isInteger(1)) {
    if (int64_t(data.size()) != type.getNumElements())
      return {};
    SmallVector<bool> bools(data.begin(), data.end());
    return DenseElementsAttr::get(type, bools);
  }
  bool splat = false;
  if (!DenseElementsAttr::isValidRawBuffer(type, data, splat))
    return {};
  return DenseElementsAttr::getFromRawBuffer(type, data);
}
