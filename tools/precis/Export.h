//===- Export.h - trained parameters back into an ONNX model ----*- C++ -*-===//
//
// `precis export`: the one piece of the driver that edits an ONNX ModelProto. It is kept in its
// own file because it includes the onnx/protobuf headers, which need C++ exceptions.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TOOLS_EXPORT_H
#define PRECIS_TOOLS_EXPORT_H

#include "precis/runtime/Npy.h"
#include "precis/runtime/Status.h"

#include <string>
#include <vector>

namespace precis::train {

/// Reads the binary ONNX model `model`, replaces every initializer named by a parameter of
/// `checkpoint` (an array that is not training state: optimizer, loss-scale or fp8 state,
/// step, data cursor) by that array, and writes the model to `output` atomically (a temporary
/// file next to it, then a rename). Every parameter of the checkpoint must name an
/// initializer of the same dtype and shape: otherwise the checkpoint is of another model and
/// nothing is written. Initializers the checkpoint does not name are kept as they are.
/// `*replaced` counts the replaced ones.
rt::Status exportOnnx(const std::string &model, const std::vector<rt::NamedTensor> &checkpoint,
                      const std::string &output, int *replaced);

} // namespace precis::train

#endif // PRECIS_TOOLS_EXPORT_H
