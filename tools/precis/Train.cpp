//===- Train.cpp - precis train ---------------------------------------------===//
//
// `precis train`: trains a model or a training artifact over an .npz dataset.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "precis/Target/Artifact.h"
#include "precis/runtime/Training.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <chrono>

using namespace llvm;

namespace precis::driver {

/// Imports `path`, runs the training pipeline with `options` and compiles the module into
/// `*bytes`; false after printing diagnostics.
bool compileTrainStep(StringRef path, int64_t batch, const CompileOptions &options,
                      std::vector<char> *bytes) {
  CompilerContext compiler;
  precis::ImportOptions importOptions;
  if (batch > 0)
    importOptions.batchSize = batch;
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, path, importOptions);
  return module && runPipeline(*module, options, "precis train") &&
         succeeded(precis::buildArtifact(*module, {}, *bytes));
}

/// What feeds each input of @train_step.
enum class TrainInput { Param, State, Step, Batch, LearningRate };

TrainInput classifyTrainInput(const precis::rt::Session &session, StringRef name) {
  if (name == "lr")
    return TrainInput::LearningRate;
  if (name == "step")
    return TrainInput::Step;
  if (precis::rt::isTrainingState(name.str())) // the optimizer state
    return TrainInput::State;
  for (const precis::rt::TensorInfo &p : session.parameters())
    if (p.name == name)
      return TrainInput::Param;
  return TrainInput::Batch;
}

precis::rt::Tensor zerosLike(const precis::rt::TensorInfo &info) {
  precis::rt::Tensor t{info.dtype, info.shape, {}};
  t.data.assign(t.view().byteSize(), 0);
  return t;
}

precis::rt::Tensor scalarI64(int64_t value) {
  precis::rt::Tensor t{precis::rt::DType::I64, {1}, std::vector<uint8_t>(8)};
  *t.as<int64_t>() = value;
  return t;
}

int runTrain(int argc, char **argv) {
  static cl::opt<std::string> model(
      cl::Positional, cl::Required,
      cl::desc("<model.onnx | model.onnxtxt | model.mlir | model.precis (compiled --train)>"),
      cl::cat(optionCategory()));
  static cl::opt<std::string> dataPath(
      "data", cl::desc("Training data: an .npz with one array per model input, rows first"),
      cl::value_desc("data.npz"), cl::cat(optionCategory()));
  static cl::opt<int64_t> steps("steps", cl::desc("Train until this many steps are done"),
                                cl::value_desc("N"), cl::init(0), cl::cat(optionCategory()));
  static cl::opt<int64_t> batchSize(
      "batch-size", cl::desc("Rows per step (default: the model's batch dimension)"),
      cl::value_desc("B"), cl::init(0), cl::cat(optionCategory()));
  static OptimizerFlags optimizerFlags;
  static PrecisionFlags precisionFlags;
  static cl::opt<double> lr("lr", cl::desc("Learning rate (required)"), cl::init(0),
                            cl::cat(optionCategory()));
  static cl::opt<std::string> logPath(
      "log",
      cl::desc("Write one JSON object per step ({\"step\", \"loss\"}, and "
               "\"loss_scale\" with loss scaling) to this file"),
      cl::value_desc("losses.jsonl"), cl::cat(optionCategory()));
  static cl::opt<std::string> checkpointDir("checkpoint-dir",
                                            cl::desc("Write checkpoints (step-NNNNNNNN.npz) here"),
                                            cl::value_desc("DIR"), cl::cat(optionCategory()));
  static cl::opt<int64_t> checkpointEvery(
      "checkpoint-every", cl::desc("Checkpoint every K steps (default: only after the last)"),
      cl::value_desc("K"), cl::init(0), cl::cat(optionCategory()));
  static cl::opt<std::string> resume(
      "resume",
      cl::desc("Continue from the latest checkpoint in DIR (and keep writing there "
               "unless --checkpoint-dir says otherwise)"),
      cl::value_desc("DIR"), cl::cat(optionCategory()));
  static cl::opt<int64_t> shuffleSeed(
      "shuffle", cl::desc("Permute the rows once, seeded (Fisher-Yates with splitmix64)"),
      cl::value_desc("SEED"), cl::init(-1), cl::cat(optionCategory()));
  static cl::opt<int> threads("num-threads", cl::desc("Threads (0: one per core)"), cl::init(0),
                              cl::cat(optionCategory()));
  static cl::opt<std::string> device(
      "device", cl::desc("Backend: cpu or cuda (default: the one the artifact was compiled for)"),
      cl::value_desc("cpu|cuda"), cl::cat(optionCategory()));
  static cl::opt<bool> checkNumerics(
      "check-numerics",
      cl::desc("Fail at the first op whose output has a NaN or an infinity, "
               "naming it, its phase and its input ranges"),
      cl::cat(optionCategory()));
  parseCommandLine(argc, argv,
                   "precis train: compile the training step of a model and run it "
                   "over a dataset on the CPU\n");
  const char *tool = "precis train";
  auto fail = [&](const precis::rt::Status &status) {
    errs() << tool << ": error: " << status.message() << "\n";
    return 1;
  };
  auto usage = [&](const std::string &message) {
    return fail(precis::rt::invalidArgument(message));
  };

  // Flags.
  if (dataPath.empty())
    return usage("--data is required: an .npz with one array per model input");
  if (steps < 1)
    return usage("--steps must be positive (the number of steps to train to)");
  if (batchSize.getNumOccurrences() && batchSize < 1)
    return usage("--batch-size must be positive, got " + std::to_string(batchSize));
  if (!lr.getNumOccurrences() || !(lr > 0))
    return usage("--lr is required and must be positive");
  if (checkpointEvery < 0 || (checkpointEvery && checkpointDir.empty() && resume.empty()))
    return usage("--checkpoint-every needs --checkpoint-dir and a positive K");

  // Compile and open the training step; an artifact compiled with --train has it already,
  // with its optimizer baked in.
  const bool artifact = StringRef(model).ends_with(".precis");
  precis::rt::SessionOptions sessionOptions;
  sessionOptions.numThreads = threads;
  sessionOptions.backend = device;
  sessionOptions.copyParameters = true;
  sessionOptions.checkNumerics = checkNumerics;
  std::unique_ptr<precis::rt::Session> session;
  if (artifact) {
    if (optimizerFlags.given())
      return usage("--optimizer, --momentum, --weight-decay, --betas, --eps and --loss-scaling "
                   "were fixed when " +
                   model + " was compiled (precis compile --train); drop them");
    if (precisionFlags.precision.getNumOccurrences() || precisionFlags.rules.getNumOccurrences())
      return usage("--precision and --rules were fixed when " + model +
                   " was compiled (precis compile --train); drop them");
    if (precis::rt::Status s = precis::rt::Session::createFromFile(model, sessionOptions, &session);
        !s)
      return fail(s);
  } else {
    CompileOptions options;
    if (rt::Status s = toCompileOptions(precisionFlags, optimizerFlags, /*train=*/true, &options);
        !s)
      return fail(s);
    std::vector<char> bytes;
    if (!compileTrainStep(model, batchSize, options, &bytes))
      return fail(
          precis::rt::invalidArgument("cannot compile the training step of '" + model + "'"));
    if (precis::rt::Status s = precis::rt::Session::createFromMemory(bytes.data(), bytes.size(),
                                                                     sessionOptions, &session);
        !s)
      return fail(s);
  }
  const precis::rt::FunctionInfo *info = session->findFunction("train_step");
  if (!info)
    return usage(model + " has no 'train_step': compile it with 'precis compile --train'");

  // The step's inputs: state (params, optimizer state, step) carried from step to step, a
  // batch from the dataset, the learning rate.
  const size_t numInputs = info->inputs.size();
  std::vector<TrainInput> kinds(numInputs);
  std::vector<precis::rt::Tensor> inputs(numInputs);
  std::vector<precis::rt::TensorInfo> batchInfos;
  std::vector<size_t> batchSlots;
  size_t stepSlot = numInputs, lrSlot = numInputs;
  for (size_t i = 0; i < numInputs; ++i) {
    const precis::rt::TensorInfo &in = info->inputs[i];
    kinds[i] = classifyTrainInput(*session, in.name);
    switch (kinds[i]) {
    case TrainInput::Param:
      if (precis::rt::Status s = session->getParameter(in.name, &inputs[i]); !s)
        return fail(s);
      break;
    case TrainInput::State: // zeros, or the initial value the artifact records (loss scale)
      if (precis::rt::Status s = session->initialValue("train_step", i, &inputs[i]); !s)
        return fail(s);
      break;
    case TrainInput::Step:
      stepSlot = i;
      inputs[i] = zerosLike(in);
      break;
    case TrainInput::LearningRate:
      lrSlot = i;
      inputs[i] = zerosLike(in);
      break;
    case TrainInput::Batch:
      batchInfos.push_back(in);
      batchSlots.push_back(i);
      break;
    }
  }
  if (stepSlot == numInputs || lrSlot == numInputs ||
      info->inputs[stepSlot].dtype != precis::rt::DType::F32 ||
      info->inputs[lrSlot].dtype != precis::rt::DType::F32)
    return fail(precis::rt::internalError("'train_step' has no f32 'step' or 'lr' input"));
  *inputs[lrSlot].as<float>() = static_cast<float>(lr);
  for (const precis::rt::TensorInfo &in : batchInfos)
    if (batchSize > 0 && (in.shape.empty() || in.shape[0] != batchSize))
      return usage("--batch-size " + std::to_string(batchSize) + " does not match input '" +
                   in.name + "' (" + precis::rt::typeString(in.dtype, in.shape) +
                   "), whose batch dimension the model fixes");
  std::vector<size_t> outputSlot(info->outputs.size(), numInputs);
  size_t lossOutput = info->outputs.size();
  size_t scaleSlot = numInputs; // the loss scale, when the step has one
  for (size_t i = 0; i < numInputs; ++i)
    if (info->inputs[i].name == "loss_scale" && kinds[i] == TrainInput::State &&
        info->inputs[i].dtype == precis::rt::DType::F32 && inputs[i].numElements() == 1)
      scaleSlot = i;
  for (size_t o = 0; o < info->outputs.size(); ++o) {
    const std::string &name = info->outputs[o].name;
    if (name == "loss") {
      lossOutput = o;
      continue;
    }
    for (size_t i = 0; i < numInputs; ++i)
      if (info->inputs[i].name == name && kinds[i] != TrainInput::Batch &&
          kinds[i] != TrainInput::LearningRate)
        outputSlot[o] = i;
    if (outputSlot[o] == numInputs)
      return fail(precis::rt::internalError("'train_step' output '" + name + "' updates no input"));
  }
  if (lossOutput == info->outputs.size())
    return fail(precis::rt::internalError("'train_step' has no 'loss' output"));

  precis::rt::Dataset data;
  if (precis::rt::Status s = precis::rt::Dataset::open(dataPath, batchInfos, &data); !s)
    return fail(s);

  // Resume: every carried input from the checkpoint, plus the data cursor and the shuffle.
  int64_t cursor = 0;
  if (!resume.empty()) {
    std::vector<precis::rt::NamedTensor> saved;
    std::string path;
    if (precis::rt::Status s = precis::rt::readLatestCheckpoint(resume, &saved, &path); !s)
      return fail(s);
    auto find = [&](StringRef name) -> const precis::rt::Tensor * {
      for (const precis::rt::NamedTensor &t : saved)
        if (t.name == name)
          return &t.tensor;
      return nullptr;
    };
    for (size_t i = 0; i < numInputs; ++i) {
      if (kinds[i] == TrainInput::Batch || kinds[i] == TrainInput::LearningRate)
        continue;
      const precis::rt::TensorInfo &in = info->inputs[i];
      const precis::rt::Tensor *t = find(in.name);
      if (!t || t->dtype != in.dtype || t->shape != in.shape)
        return usage(path + " does not fit this model and optimizer: " +
                     (t ? "'" + in.name + "' is " + precis::rt::typeString(t->dtype, t->shape) +
                              ", expected " + precis::rt::typeString(in.dtype, in.shape)
                        : "no '" + in.name + "'"));
      inputs[i] = *t;
    }
    const precis::rt::Tensor *savedCursor = find("data_cursor");
    const precis::rt::Tensor *savedSeed = find("shuffle_seed");
    if (!savedCursor || !savedSeed || savedCursor->dtype != precis::rt::DType::I64 ||
        savedSeed->dtype != precis::rt::DType::I64 || savedCursor->numElements() != 1 ||
        savedSeed->numElements() != 1)
      return usage(path + " has no data cursor (data_cursor, shuffle_seed)");
    cursor = *savedCursor->as<int64_t>();
    if (shuffleSeed.getNumOccurrences() && shuffleSeed != *savedSeed->as<int64_t>())
      return usage("--shuffle " + std::to_string(shuffleSeed) + " differs from the seed " +
                   std::to_string(*savedSeed->as<int64_t>()) + " " + path + " was trained with");
    shuffleSeed = *savedSeed->as<int64_t>();
    errs() << formatv("{0}: resuming from {1} (step {2})\n", tool, path, cursor);
  }
  if (shuffleSeed >= 0)
    data.shuffle(static_cast<uint64_t>(shuffleSeed));
  const std::string saveDir = checkpointDir.empty() ? resume.getValue() : checkpointDir.getValue();

  std::unique_ptr<raw_fd_ostream> log;
  if (!logPath.empty()) {
    std::error_code ec;
    log = std::make_unique<raw_fd_ostream>(logPath, ec);
    if (ec)
      return fail(precis::rt::ioError("cannot write '" + logPath + "': " + ec.message()));
  }

  auto save = [&](int64_t step) -> precis::rt::Status {
    std::vector<precis::rt::NamedTensor> arrays;
    for (size_t i = 0; i < numInputs; ++i)
      if (kinds[i] != TrainInput::Batch && kinds[i] != TrainInput::LearningRate)
        arrays.push_back({info->inputs[i].name, inputs[i]});
    arrays.push_back({"data_cursor", scalarI64(cursor)});
    arrays.push_back({"shuffle_seed", scalarI64(shuffleSeed)});
    std::string path;
    PRECIS_RETURN_IF_ERROR(precis::rt::writeCheckpoint(saveDir, step, arrays, &path));
    errs() << tool << ": wrote " << path << "\n";
    return precis::rt::Status::ok();
  };

  // The loop: one batch per step; the step's outputs are the next step's inputs. Steps count
  // batches (the data cursor): with loss scaling, a skipped step leaves the optimizer's step
  // counter behind, as in torch.
  using Clock = std::chrono::steady_clock;
  const int64_t first = cursor;
  if (first >= steps)
    errs() << formatv("{0}: already at step {1}; nothing to do for --steps {2}\n", tool, first,
                      steps.getValue());
  const int64_t every = std::max<int64_t>(1, (steps - first) / 50);
  std::vector<precis::rt::Tensor> batch, outputs;
  std::vector<precis::rt::TensorView> args(numInputs);
  Clock::time_point start = Clock::now();
  for (int64_t step = first + 1; step <= steps; ++step) {
    data.batch(cursor, &batch);
    for (size_t k = 0; k < batchSlots.size(); ++k)
      inputs[batchSlots[k]] = std::move(batch[k]);
    for (size_t i = 0; i < numInputs; ++i)
      args[i] = inputs[i].view();
    if (precis::rt::Status s = session->run("train_step", args, &outputs); !s)
      return fail(precis::rt::withContext(s, "step " + std::to_string(step)));
    ++cursor;
    const float loss = *outputs[lossOutput].as<float>();
    for (size_t o = 0; o < outputs.size(); ++o)
      if (o != lossOutput)
        inputs[outputSlot[o]] = std::move(outputs[o]);
    if (log) {
      json::Object entry{{"step", step}, {"loss", static_cast<double>(loss)}};
      if (scaleSlot != numInputs) // the scale after this step's update, as scaler.get_scale()
        entry["loss_scale"] = static_cast<double>(*inputs[scaleSlot].as<float>());
      *log << json::Value(std::move(entry)) << "\n";
      log->flush();
    }
    if (step % every == 0 || step == steps) {
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      errs() << formatv("step {0}/{1}  loss {2:f7}  {3:f1} steps/s\n", step, steps, loss,
                        (step - first) / std::max(seconds, 1e-9));
    }
    if (!saveDir.empty() && ((checkpointEvery > 0 && step % checkpointEvery == 0) || step == steps))
      if (precis::rt::Status s = save(step); !s)
        return fail(s);
  }
  if (log && log->has_error()) {
    log->clear_error();
    return fail(precis::rt::ioError("cannot write '" + logPath + "'"));
  }
  return 0;
}

} // namespace precis::driver
