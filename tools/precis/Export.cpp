//===- Export.cpp - precis export -------------------------------------------===//
//
// `precis export`: a checkpoint's parameters (and BatchNorm running statistics) back into the
// initializers of an ONNX model, optionally rewritten for inference.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "precis/Import/OnnxExport.h"
#include "precis/runtime/Training.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace precis::driver {

int runExport(int argc, char **argv) {
  static cl::opt<std::string> model(cl::Positional, cl::Required, cl::desc("<model.onnx (binary)>"),
                                    cl::cat(optionCategory()));
  static cl::opt<std::string> checkpoint(
      "checkpoint", cl::Required,
      cl::desc("A checkpoint (step-NNNNNNNN.npz), or a directory: its latest checkpoint"),
      cl::value_desc("FILE|DIR"), cl::cat(optionCategory()));
  static cl::opt<std::string> output("o", cl::Required, cl::desc("Output model"),
                                     cl::value_desc("trained.onnx"), cl::cat(optionCategory()));
  static cl::opt<bool> inference(
      "inference",
      cl::desc("Write an inference model: BatchNormalization in inference mode on the trained "
               "running statistics, Dropout removed, only the values --outputs names (default: "
               "the graph's outputs) and what they need"),
      cl::cat(optionCategory()));
  static cl::list<std::string> outputs(
      "outputs", cl::CommaSeparated,
      cl::desc("With --inference: the values the model outputs (e.g. the logits rather than "
               "the loss)"),
      cl::value_desc("NAME,..."), cl::cat(optionCategory()));
  parseCommandLine(argc, argv,
                   "precis export: write a checkpoint's parameters into the "
                   "initializers of an ONNX model\n");
  const char *tool = "precis export";
  std::vector<precis::rt::NamedTensor> arrays;
  std::string path;
  int replaced = 0;
  precis::rt::Status s = precis::rt::readCheckpoint(checkpoint, &arrays, &path);
  if (!outputs.empty() && !inference) {
    errs() << tool << ": error: --outputs needs --inference\n";
    return 1;
  }
  precis::InferenceExport options{std::vector<std::string>(outputs.begin(), outputs.end())};
  if (s)
    s = exportOnnx(model, arrays, output, &replaced, inference ? &options : nullptr);
  if (!s) {
    errs() << tool << ": error: " << s.message() << "\n";
    return 1;
  }
  errs() << formatv("{0}: wrote {1}{2}: {3} parameters from {4}\n", tool, output,
                    inference ? " (inference)" : "", replaced, path);
  return 0;
}

} // namespace precis::driver
