//===- OnnxExport.h - trained parameters back into an ONNX model ----*- C++ -*-===//
//
// `precis export` and the training session's export: a checkpoint's parameters written back
// into the initializers of the ONNX model they were trained from. Next to the importer, since
// it is the other piece of precis that reads and writes ONNX ModelProtos.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_IMPORT_ONNXEXPORT_H
#define PRECIS_IMPORT_ONNXEXPORT_H

#include "precis/runtime/Npy.h"
#include "precis/runtime/Status.h"

#include <string>
#include <vector>

namespace precis {

/// Reads the binary ONNX model `model`, replaces every initializer named by a parameter of
/// `checkpoint` (an array that is not training state: optimizer, loss-scale or fp8 state,
/// step, data cursor) by that array, and writes the model to `output` atomically (a temporary
/// file next to it, then a rename). Every parameter of the checkpoint must name an
/// initializer of the same dtype and shape: otherwise the checkpoint is of another model and
/// nothing is written. Initializers the checkpoint does not name are kept as they are.
/// `*replaced` counts the replaced ones.
rt::Status exportOnnx(const std::string &model, const std::vector<rt::NamedTensor> &checkpoint,
                      const std::string &output, int *replaced);

} // namespace precis

#endif // PRECIS_IMPORT_ONNXEXPORT_H
