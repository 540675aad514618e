//===- Train.cpp - precis train ---------------------------------------------===//
//
// `precis train`: trains a model or a training artifact over an .npz dataset. The loop itself
// (batches, shuffle, checkpoints, resume) is rt::TrainingSession's; this file parses flags,
// compiles the training step and prints progress and the log.
//
// Started by `mpirun -np N` (N > 1) it trains data-parallel (docs/distributed.md): every rank
// compiles the same step with the data-parallel collectives, the ranks check that they agree on
// the artifact and the flags, and only rank 0 prints progress and writes the log and the
// checkpoints. A rank that fails prints its rank with the error and ends the whole job
// (MPI_Abort), so no rank waits forever for it.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "precis/Target/Artifact.h"
#include "precis/runtime/Training.h"
#include "precis/schema/Names.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <chrono>
#include <cmath>

using namespace llvm;

namespace precis::driver {

/// Imports `path`, runs the training pipeline with `options` and compiles the module into
/// `*bytes`; false after printing diagnostics.
bool compileTrainStep(StringRef path, int64_t batch, const CompileOptions &options,
                      std::vector<char> *bytes) {
  CompilerContext compiler;
  precis::ImportOptions importOptions;
  importOptions.training = true;
  if (batch > 0)
    importOptions.batchSize = batch;
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, path, importOptions);
  return module && runPipeline(*module, options, "precis train") &&
         succeeded(precis::buildArtifact(*module, {}, *bytes));
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
               "\"loss_scale\" with loss scaling, \"skipped\": true on a skipped step; a "
               "non-finite loss is null) to this file (precis plot draws it)"),
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
  // The job: under mpirun, the MPI world; otherwise this process alone.
  std::shared_ptr<precis::rt::Communicator> world;
  if (precis::rt::launchedByMpi())
    if (precis::rt::Status s = precis::rt::createMpiCommunicator(&world); !s) {
      errs() << tool << ": error: started by an MPI launcher, but " << s.message() << "\n";
      return 1;
    }
  const bool parallel = world && world->size() > 1;
  const bool lead = !world || world->rank() == 0; // prints, logs and checkpoints
  auto fail = [&](const precis::rt::Status &status) {
    if (!parallel) {
      errs() << tool << ": error: " << status.message() << "\n";
      return 1;
    }
    // One write: errs() is unbuffered, and Open MPI forwards each write of a rank on its own,
    // so pieces written one by one may come out split by the MPI_Abort banner.
    const std::string line = std::string(tool) + ": rank " + std::to_string(world->rank()) +
                             " of " + std::to_string(world->size()) +
                             ": error: " + status.message() + "\n";
    errs() << line;
    errs().flush();
    world->abort(1); // ends every rank; does not return
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
  sessionOptions.checkNumerics = checkNumerics;
  sessionOptions.communicator = world;
  std::unique_ptr<precis::rt::TrainingSession> session;
  if (artifact) {
    // The seed is training state, not part of the step: --seed reseeds the artifact (below).
    if (optimizerFlags.stepFlagsGiven())
      return usage("--optimizer, --momentum, --weight-decay, --betas, --eps, --loss-scaling "
                   "and --data-parallel were fixed when " +
                   model + " was compiled (precis compile --train); drop them");
    if (precisionFlags.precision.getNumOccurrences() || precisionFlags.rules.getNumOccurrences())
      return usage("--precision and --rules were fixed when " + model +
                   " was compiled (precis compile --train); drop them");
    if (precis::rt::Status s =
            precis::rt::TrainingSession::createFromFile(model, sessionOptions, &session);
        !s)
      return fail(s);
  } else {
    CompileOptions options;
    optimizerFlags.dataParallelImplied = parallel;
    optimizerFlags.impliedWorldSize = parallel ? world->size() : 0;
    if (rt::Status s = toCompileOptions(precisionFlags, optimizerFlags, /*train=*/true, &options);
        !s)
      return fail(s);
    std::vector<char> bytes;
    if (!compileTrainStep(model, batchSize, options, &bytes))
      return fail(
          precis::rt::invalidArgument("cannot compile the training step of '" + model + "'"));
    if (precis::rt::Status s = precis::rt::TrainingSession::createFromMemory(
            bytes.data(), bytes.size(), sessionOptions, &session);
        !s)
      return fail(s);
  }
  for (const precis::rt::TensorInfo &in : session->batchInputs())
    if (batchSize > 0 && (in.shape.empty() || in.shape[0] != batchSize))
      return usage("--batch-size " + std::to_string(batchSize) + " does not match input '" +
                   in.name + "' (" + precis::rt::typeString(in.dtype, in.shape) +
                   "), whose batch dimension the model fixes");

  if (parallel) {
    // What every rank must agree on besides the artifact (TrainingSession checked that).
    std::string flags =
        formatv("lr={0:e16} steps={1} shuffle={2} every={3} dir={4} resume={5}", lr.getValue(),
                steps.getValue(), shuffleSeed.getValue(), checkpointEvery.getValue(),
                checkpointDir.getValue(), resume.getValue())
            .str();
    uint64_t hash = 0xCBF29CE484222325ull;
    for (char c : flags)
      hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
    if (precis::rt::Status s = precis::rt::checkSameOnEveryRank(
            *world, "training flags (--lr, --steps, --shuffle, checkpoints)", hash);
        !s)
      return fail(s);
    // Optimizer state per rank: all of it, or with ZeRO stage 1 (zero1.<kind> shares) 1/N.
    uint64_t stateBytes = 0, paramElements = 0, shareKinds = 0;
    for (const precis::rt::TensorInfo &in : session->trainStep().inputs) {
      uint64_t elements = 1;
      for (int64_t d : in.shape)
        elements *= static_cast<uint64_t>(d);
      if (in.role == precis::rt::Role::Parameter)
        paramElements += elements;
      if (in.role == precis::rt::Role::OptimizerState) {
        stateBytes += elements * precis::rt::dtypeSize(in.dtype);
        shareKinds += StringRef(in.name).starts_with(names::kZeroStatePrefix);
      }
    }
    if (lead) {
      errs() << formatv("{0}: data-parallel over {1} ranks ({2}), {3} rows per rank per step\n",
                        tool, world->size(), world->backend(),
                        session->batchInputs().empty() || session->batchInputs()[0].shape.empty()
                            ? 0
                            : session->batchInputs()[0].shape[0]);
      if (shareKinds)
        errs() << formatv("{0}: optimizer state per rank {1:f2} MiB (ZeRO stage 1: sharded, "
                          "1/{2} of {3:f2} MiB)\n",
                          tool, stateBytes / 1048576.0, world->size(),
                          paramElements * shareKinds * 4 / 1048576.0);
      else
        errs() << formatv("{0}: optimizer state per rank {1:f2} MiB (replicated; --zero-stage 1 "
                          "shards it)\n",
                          tool, stateBytes / 1048576.0);
    }
  }

  // Resume: the state, the data cursor and the shuffle seed.
  if (!resume.empty()) {
    std::string path;
    if (precis::rt::Status s = session->loadCheckpoint(resume, &path); !s)
      return fail(s);
    if (shuffleSeed.getNumOccurrences() && shuffleSeed != session->shuffleSeed())
      return usage("--shuffle " + std::to_string(shuffleSeed) + " differs from the seed " +
                   std::to_string(session->shuffleSeed()) + " " + path + " was trained with");
    // Dropout's stream continues from the checkpoint's RNG state (seed, steps drawn).
    precis::rt::Tensor rng;
    if (optimizerFlags.seed.getNumOccurrences() && session->getState(names::kRng, &rng) &&
        rng.dtype == precis::rt::DType::I64 && rng.numElements() == 2 &&
        static_cast<uint64_t>(rng.as<int64_t>()[0]) != optimizerFlags.seed)
      return usage("--seed " + std::to_string(optimizerFlags.seed) + " differs from the seed " +
                   std::to_string(static_cast<uint64_t>(rng.as<int64_t>()[0])) + " " + path +
                   " was trained with");
    if (lead)
      errs() << formatv("{0}: resuming from {1} (step {2})\n", tool, path, session->dataCursor());
  } else if (artifact && optimizerFlags.seed.getNumOccurrences()) {
    // A precompiled artifact carries its seed as the RNG state's initial value; --seed replaces it.
    if (precis::rt::Status s = session->setDropoutSeed(optimizerFlags.seed); !s)
      return fail(s);
  }
  if (precis::rt::Status s = session->openData(dataPath, shuffleSeed); !s)
    return fail(s);
  const std::string saveDir = checkpointDir.empty() ? resume.getValue() : checkpointDir.getValue();

  std::unique_ptr<raw_fd_ostream> log;
  if (!logPath.empty() && lead) {
    std::error_code ec;
    log = std::make_unique<raw_fd_ostream>(logPath, ec);
    if (ec)
      return fail(precis::rt::ioError("cannot write '" + logPath + "'" + ": " + ec.message()));
  }

  // The loop: one batch per step. Steps count batches (the data cursor): with loss scaling, a
  // skipped step leaves the optimizer's step counter behind, as in torch.
  using Clock = std::chrono::steady_clock;
  const int64_t first = session->dataCursor();
  if (first >= steps && lead)
    errs() << formatv("{0}: already at step {1}; nothing to do for --steps {2}\n", tool, first,
                      steps.getValue());
  const int64_t every = std::max<int64_t>(1, (steps - first) / 50);
  Clock::time_point start = Clock::now();
  for (int64_t step = first + 1; step <= steps; ++step) {
    float loss = 0;
    const int64_t optimizerSteps = session->stepCount();
    if (precis::rt::Status s = session->step(static_cast<float>(lr), &loss); !s)
      return fail(precis::rt::withContext(s, "step " + std::to_string(step)));
    if (log) {
      // With loss scaling, a step whose gradients were not finite is skipped.
      *log << session->logLine(step, loss, session->stepCount() == optimizerSteps);
      log->flush();
    }
    if (lead && (step % every == 0 || step == steps)) {
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      errs() << formatv("step {0}/{1}  loss {2:f7}  {3:f1} steps/s\n", step, steps, loss,
                        (step - first) / std::max(seconds, 1e-9));
    }
    if (!saveDir.empty() &&
        ((checkpointEvery > 0 && step % checkpointEvery == 0) || step == steps)) {
      std::string path;
      if (precis::rt::Status s = session->saveCheckpoint(saveDir, &path); !s)
        return fail(s);
      if (lead)
        errs() << tool << ": wrote " << path << "\n";
    }
  }
  if (log && log->has_error()) {
    log->clear_error();
    return fail(precis::rt::ioError("cannot write '" + logPath + "'"));
  }
  return 0;
}

} // namespace precis::driver
