//===- Run.cpp - precis run -------------------------------------------------===//
//
// `precis run`: runs a function of an artifact (or of a model compiled in memory) on NumPy
// inputs and prints or writes its outputs.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

using namespace llvm;

namespace precis::driver {

/// A file-name-safe version of an output name.
std::string fileNameFor(StringRef name, size_t index) {
  if (name.empty())
    return "output_" + std::to_string(index);
  std::string out;
  for (char c : name)
    out += (isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return out;
}

int runRun(int argc, char **argv) {
  static cl::list<std::string> inputs("input", cl::desc("A function input from a .npy file"),
                                      cl::value_desc("NAME=file.npy"), cl::cat(optionCategory()));
  static cl::opt<std::string> inputsNpz(
      "inputs", cl::desc("Function inputs from a .npz whose arrays are named after them"),
      cl::value_desc("file.npz"), cl::cat(optionCategory()));
  static cl::opt<std::string> outputDir(
      "output-dir", cl::desc("Write each output to DIR/<name>.npy (default: print a summary)"),
      cl::value_desc("DIR"), cl::cat(optionCategory()));
  static SessionFlags sessionFlags;
  static cl::opt<bool> checkNumerics(
      "check-numerics",
      cl::desc("Fail at the first op whose output has a NaN or an infinity, "
               "naming it and its input ranges"),
      cl::cat(optionCategory()));
  parseCommandLine(argc, argv, "precis run: run an artifact or model on the CPU\n");
  const char *tool = "precis run";
  auto fail = [&](const precis::rt::Status &status) {
    errs() << tool << ": error: " << status.message() << "\n";
    return 1;
  };

  precis::rt::SessionOptions options = sessionFlags.sessionOptions();
  options.checkNumerics = checkNumerics;
  // Gather the named inputs from --inputs and --input.
  std::vector<precis::rt::NamedTensor> named;
  if (!inputsNpz.empty())
    if (precis::rt::Status s = precis::rt::readNpz(inputsNpz, &named); !s)
      return fail(s);
  for (const std::string &spec : inputs) {
    auto [name, file] = StringRef(spec).split('=');
    if (name.empty() || file.empty())
      return fail(precis::rt::invalidArgument("--input expects NAME=file.npy, got '" + spec + "'"));
    precis::rt::NamedTensor tensor{name.str(), {}};
    if (precis::rt::Status s = precis::rt::readNpy(file.str(), &tensor.tensor); !s)
      return fail(s);
    named.push_back(std::move(tensor));
  }
  // A model is compiled for these inputs: one whose shapes depend on some of them is
  // specialised on their values.
  std::unique_ptr<precis::rt::Session> session;
  if (precis::rt::Status s =
          openSession(sessionFlags.model, options, sessionFlags.batch, &session, &named);
      !s)
    return fail(s);
  const precis::rt::FunctionInfo *info = session->findFunction(sessionFlags.function);
  if (!info)
    return fail(
        precis::rt::notFound("the artifact has no function '" + sessionFlags.function + "'"));
  std::vector<precis::rt::TensorView> args;
  auto howToPass = [](const std::string &name) {
    return "pass --input " + name + "=file.npy or --inputs file.npz";
  };
  if (precis::rt::Status s = matchInputs(*info, named, howToPass, &args); !s)
    return fail(s);

  std::vector<precis::rt::Tensor> outputs;
  if (precis::rt::Status s = session->run(sessionFlags.function, args, &outputs); !s)
    return fail(s);

  if (!outputDir.empty()) {
    if (std::error_code ec = sys::fs::create_directories(outputDir))
      return fail(precis::rt::ioError("cannot create '" + outputDir + "': " + ec.message()));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string &name = info->outputs[i].name;
    if (!outputDir.empty()) {
      SmallString<256> path(outputDir);
      sys::path::append(path, fileNameFor(name, i) + ".npy");
      if (precis::rt::Status s = precis::rt::writeNpy(path.str().str(), outputs[i].view()); !s)
        return fail(s);
      continue;
    }
    outs() << (name.empty() ? "output_" + std::to_string(i) : name) << ": "
           << precis::rt::typeString(outputs[i].dtype, outputs[i].shape);
    if (outputs[i].dtype == precis::rt::DType::F32) {
      outs() << " [";
      int64_t n = std::min<int64_t>(outputs[i].numElements(), 8);
      for (int64_t j = 0; j < n; ++j)
        outs() << (j ? ", " : "") << formatv("{0:e7}", outputs[i].as<float>()[j]);
      outs() << (outputs[i].numElements() > n ? ", ...]" : "]");
    }
    outs() << "\n";
  }
  return 0;
}

} // namespace precis::driver
