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

/// Reads the ONNX model `model` (binary, or the textual format for .onnxtxt), replaces every
/// initializer named by a parameter of `checkpoint` (an array that is not training state:
/// optimizer, loss-scale or fp8 state, step, data cursor) by that array, and writes the model to
/// `output` atomically (a temporary file next to it, then a rename). Every parameter of the
/// checkpoint must name an initializer of the same dtype and shape: otherwise the checkpoint is of
/// another model and nothing is written. Initializers the checkpoint does not name are kept as they
/// are.
/// `*replaced` counts the replaced ones. The checkpoint's BatchNorm running statistics are
/// named after their initializers, so they are written back like the parameters.
///
/// With `inference` the model is also rewritten for inference (precis export --inference):
/// every BatchNormalization runs in inference mode on the (trained) running statistics
/// (training_mode removed, one output), every Dropout becomes an Identity, and the graph keeps
/// the outputs `inference->outputs` names (any values of the graph), or, when that is empty,
/// its own outputs (a graph whose only output is the loss keeps the loss, and still needs the
/// labels); nodes, graph inputs and initializers the kept outputs do not need are removed.
/// A BatchNormalization statistic or a Dropout mask that another node reads is an error.
struct InferenceExport {
  std::vector<std::string> outputs;
};
rt::Status exportOnnx(const std::string &model, const std::vector<rt::NamedTensor> &checkpoint,
                      const std::string &output, int *replaced,
                      const InferenceExport *inference = nullptr);

} // namespace precis

#endif // PRECIS_IMPORT_ONNXEXPORT_H
