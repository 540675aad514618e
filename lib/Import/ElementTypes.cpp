//===- ElementTypes.cpp - ONNX data types as MLIR element types -----------===//
//
// Which ONNX tensor data types precis imports, the MLIR element type of each, and their ONNX
// spellings for messages.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

using namespace mlir;

namespace precis::onnx_import {

//===----------------------------------------------------------------------===//
// Element types.
//===----------------------------------------------------------------------===//

// ONNX TensorProto::DataType numbers of the 8-bit float types (onnx >= 1.14). libonnx 1.12
// lacks the enumerators, but data_type is a plain int32 field, so newer models still carry them.
static constexpr int32_t kOnnxFloat8E4M3FN = 17;
static constexpr int32_t kOnnxFloat8E5M2 = 19;

Type convertElementType(int32_t onnxType, MLIRContext *context) {
  if (!isSupportedElementType(onnxType))
    return nullptr;
  Builder b(context);
  switch (onnxType) {
  case onnx::TensorProto::FLOAT:
    return b.getF32Type();
  case onnx::TensorProto::DOUBLE:
    return b.getF64Type();
  case onnx::TensorProto::FLOAT16:
    return b.getF16Type();
  case onnx::TensorProto::BFLOAT16:
    return b.getBF16Type();
  case kOnnxFloat8E4M3FN:
    return b.getFloat8E4M3FNType();
  case kOnnxFloat8E5M2:
    return b.getFloat8E5M2Type();
  case onnx::TensorProto::INT64:
    return b.getI64Type();
  case onnx::TensorProto::INT32:
    return b.getI32Type();
  case onnx::TensorProto::INT8:
    return b.getI8Type();
  case onnx::TensorProto::UINT8:
    return b.getIntegerType(8, /*isSigned=*/false);
  case onnx::TensorProto::BOOL:
    return b.getI1Type();
  default:
    return nullptr;
  }
}

bool isSupportedElementType(int32_t onnxType) {
  switch (onnxType) {
  case onnx::TensorProto::FLOAT:
  case onnx::TensorProto::DOUBLE:
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
  case kOnnxFloat8E4M3FN:
  case kOnnxFloat8E5M2:
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
  case onnx::TensorProto::BOOL:
    return true;
  default:
    return false;
  }
}

std::string onnxTypeName(int32_t onnxType) {
  static const char *const names[] = {
      "undefined",      "float",      "uint8",          "int8",       "uint16",   "int16",
      "int32",          "int64",      "string",         "bool",       "float16",  "double",
      "uint32",         "uint64",     "complex64",      "complex128", "bfloat16", "float8e4m3fn",
      "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4",      "int4",     "float4e2m1"};
  if (onnxType >= 0 && onnxType < static_cast<int32_t>(std::size(names)))
    return names[onnxType];
  return "data type " + std::to_string(onnxType);
}

} // namespace precis::onnx_import
