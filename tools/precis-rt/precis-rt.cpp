//===- precis-rt.cpp - run, train and time artifacts with the runtime alone ------===//
//
// The subset of `precis run|train|bench` that needs no compiler: it links only the runtime,
// so it is small enough to copy to a GPU machine that has no MLIR, LLVM or ONNX
// (scripts/gpu-check). Artifacts only; the semantics are those of the `precis` commands of
// the same names (train runs the same rt::TrainingSession: same batches, log lines and
// checkpoints, and each resumes the other's).
//
//   precis-rt run ART --inputs X.npz [--output-dir D] [--device cpu|cuda] [--function F]
//   precis-rt train ART --data X.npz --steps N --lr LR [--log F.jsonl] [--device cpu|cuda]
//             [--shuffle SEED] [--checkpoint-dir D] [--checkpoint-every K] [--resume D]
//             [--seed S] (dropout's Philox seed; default the artifact's, `precis compile --seed`)
//             [--num-threads T] [--warmup W]
//                                (prints {"steps":..,"ms_per_step":..} over the steps after W)
//   precis-rt bench ART [--function F] [--iterations K] [--warmup W] [--device cpu|cuda]
//
// `mpirun -np N precis-rt train ...` trains data-parallel (an artifact compiled with
// --data-parallel; docs/distributed.md): rank 0 logs, checkpoints and prints the timing, and a
// rank that fails ends the whole job.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Npy.h"
#include "precis/runtime/Session.h"
#include "precis/runtime/Training.h"
#include "precis/schema/Names.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace precis::rt;

namespace {

int fail(const std::string &what, const Status &s) {
  std::fprintf(stderr, "precis-rt %s: error: %s\n", what.c_str(), s.message().c_str());
  return 1;
}

/// `--name value` pairs after the artifact; unknown or valueless flags are an error.
bool parseFlags(int argc, char **argv, const std::vector<std::string> &known,
                std::map<std::string, std::string> *flags) {
  for (int i = 3; i < argc; i += 2) {
    std::string name = argv[i];
    if (name.rfind("--", 0) != 0 || i + 1 >= argc ||
        std::find(known.begin(), known.end(), name.substr(2)) == known.end()) {
      std::fprintf(stderr, "precis-rt: unexpected argument '%s'\n", argv[i]);
      return false;
    }
    (*flags)[name.substr(2)] = argv[i + 1];
  }
  return true;
}

std::string get(const std::map<std::string, std::string> &flags, const std::string &name,
                const std::string &fallback = "") {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

int runCommand(const std::string &path, const std::map<std::string, std::string> &flags) {
  SessionOptions options;
  options.backend = get(flags, "device");
  std::unique_ptr<Session> session;
  if (Status s = Session::createFromFile(path, options, &session); !s.isOk())
    return fail("run", s);
  const std::string function = get(flags, "function", precis::names::kForward);
  std::vector<NamedTensor> arrays;
  if (Status s = readNpz(get(flags, "inputs"), &arrays); !s.isOk())
    return fail("run", s);
  const FunctionInfo *info = nullptr;
  for (const FunctionInfo &f : session->functions())
    if (f.name == function)
      info = &f;
  if (!info)
    return fail("run", Status(StatusCode::NotFound, "no function '" + function + "'"));
  std::vector<TensorView> inputs;
  for (const TensorInfo &in : info->inputs) {
    auto it = std::find_if(arrays.begin(), arrays.end(),
                           [&](const NamedTensor &a) { return a.name == in.name; });
    if (it == arrays.end())
      return fail("run", Status(StatusCode::InvalidArgument, "missing input '" + in.name + "'"));
    inputs.push_back(it->tensor.view());
  }
  std::vector<Tensor> outputs;
  if (Status s = session->run(function, inputs, &outputs); !s.isOk())
    return fail("run", s);
  const std::string dir = get(flags, "output-dir");
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::string name =
        info->outputs[i].name.empty() ? "output" + std::to_string(i) : info->outputs[i].name;
    std::replace(name.begin(), name.end(), '/', '_');
    if (!dir.empty()) {
      if (Status s = writeNpy(dir + "/" + name + ".npy", outputs[i].view()); !s.isOk())
        return fail("run", s);
    } else {
      std::printf("%s: %s\n", name.c_str(), typeString(outputs[i].dtype, outputs[i].shape).c_str());
    }
  }
  return 0;
}

int trainCommand(const std::string &path, const std::map<std::string, std::string> &flags) {
  SessionOptions options;
  options.backend = get(flags, "device");
  options.numThreads = std::atoi(get(flags, "num-threads", "0").c_str());
  if (launchedByMpi())
    if (Status s = createMpiCommunicator(&options.communicator); !s.isOk())
      return fail("train", s);
  const std::shared_ptr<Communicator> world = options.communicator;
  const bool lead = !world || world->rank() == 0;
  auto fail = [&](const std::string &what, const Status &s) {
    if (!world || world->size() == 1)
      return ::fail(what, s);
    std::fprintf(stderr, "precis-rt %s: rank %d of %d: error: %s\n", what.c_str(), world->rank(),
                 world->size(), s.message().c_str());
    std::fflush(stderr);
    world->abort(1); // ends every rank; does not return
    return 1;
  };
  std::unique_ptr<TrainingSession> session;
  if (Status s = TrainingSession::createFromFile(path, options, &session); !s.isOk())
    return fail("train", s);
  const std::string resume = get(flags, "resume");
  if (!resume.empty()) {
    std::string from;
    if (Status s = session->loadCheckpoint(resume, &from); !s.isOk())
      return fail("train", s);
    if (lead)
      std::fprintf(stderr, "precis-rt train: resuming from %s (step %lld)\n", from.c_str(),
                   static_cast<long long>(session->dataCursor()));
  }
  // --seed sets dropout's RNG state; a resumed run keeps the checkpoint's, which it must match.
  if (flags.count("seed")) {
    const std::string text = get(flags, "seed");
    char *end = nullptr;
    errno = 0;
    const unsigned long long seed = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end || text[0] == '-' || errno == ERANGE)
      return fail("train", Status(StatusCode::InvalidArgument,
                                  "--seed '" + text + "' is not an integer in [0, 2^64)"));
    Tensor rng;
    if (!resume.empty()) {
      if (session->getState(precis::names::kRng, &rng).isOk() &&
          static_cast<uint64_t>(rng.as<int64_t>()[0]) != seed)
        return fail("train",
                    Status(StatusCode::InvalidArgument,
                           "--seed " + text + " differs from the seed " +
                               std::to_string(static_cast<uint64_t>(rng.as<int64_t>()[0])) +
                               " the checkpoint was trained with"));
    } else if (Status s = session->setDropoutSeed(seed); !s.isOk()) {
      return fail("train", s);
    }
  }
  const long long shuffle = std::strtoll(get(flags, "shuffle", "-1").c_str(), nullptr, 10);
  if (Status s = session->openData(get(flags, "data"), shuffle); !s.isOk())
    return fail("train", s);
  const long steps = std::strtol(get(flags, "steps", "1").c_str(), nullptr, 10);
  const float lr = std::strtof(get(flags, "lr", "0.001").c_str(), nullptr);
  const std::string saveDir = get(flags, "checkpoint-dir", resume);
  const long every = std::strtol(get(flags, "checkpoint-every", "0").c_str(), nullptr, 10);
  FILE *log = nullptr;
  if (lead && !get(flags, "log").empty() && !(log = std::fopen(get(flags, "log").c_str(), "w")))
    return fail("train", Status(StatusCode::IoError, "cannot write " + get(flags, "log")));
  const long warmup = std::strtol(get(flags, "warmup", "0").c_str(), nullptr, 10);
  const long first = static_cast<long>(session->dataCursor());
  auto start = std::chrono::steady_clock::now();
  for (long step = first + 1; step <= steps; ++step) {
    if (step - first - 1 == warmup)
      start = std::chrono::steady_clock::now();
    float loss = 0;
    const int64_t optimizerSteps = session->stepCount();
    if (Status s = session->step(lr, &loss); !s.isOk())
      return fail("train", withContext(s, "step " + std::to_string(step)));
    // With loss scaling, a step whose gradients were not finite is skipped.
    if (log)
      std::fputs(session->logLine(step, loss, session->stepCount() == optimizerSteps).c_str(), log);
    if (!saveDir.empty() && ((every > 0 && step % every == 0) || step == steps))
      if (Status s = session->saveCheckpoint(saveDir); !s.isOk())
        return fail("train", s);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long ran = steps > first ? steps - first : 0;
  const long timed = ran > warmup ? ran - warmup : 0;
  if (lead)
    std::printf("{\"steps\":%ld,\"ms_per_step\":%.4f,\"ranks\":%d}\n", timed,
                timed ? seconds * 1e3 / timed : 0.0, world ? world->size() : 1);
  if (log)
    std::fclose(log);
  return 0;
}

/// Random inputs of each dtype: values in [-1, 1) for floats, 0 for integers (valid indices).
Tensor randomTensor(const TensorInfo &info, std::mt19937 &rng) {
  Tensor t;
  t.dtype = info.dtype;
  t.shape = info.shape;
  t.data.assign(t.view().byteSize(), 0);
  if (info.dtype == DType::F32) {
    std::uniform_real_distribution<float> u(-1, 1);
    for (int64_t i = 0; i < t.numElements(); ++i)
      t.as<float>()[i] = u(rng);
  }
  return t;
}

int benchCommand(const std::string &path, const std::map<std::string, std::string> &flags) {
  SessionOptions options;
  options.backend = get(flags, "device");
  std::unique_ptr<Session> session;
  if (Status s = Session::createFromFile(path, options, &session); !s.isOk())
    return fail("bench", s);
  const std::string function = get(flags, "function", precis::names::kForward);
  const FunctionInfo *info = nullptr;
  for (const FunctionInfo &f : session->functions())
    if (f.name == function)
      info = &f;
  if (!info)
    return fail("bench", Status(StatusCode::NotFound, "no function '" + function + "'"));
  std::mt19937 rng(0);
  std::vector<Tensor> inputs;
  for (const TensorInfo &in : info->inputs)
    inputs.push_back(randomTensor(in, rng));
  std::vector<Tensor> outputs;
  const long warmup = std::strtol(get(flags, "warmup", "3").c_str(), nullptr, 10);
  const long iterations = std::strtol(get(flags, "iterations", "20").c_str(), nullptr, 10);
  for (long i = 0; i < warmup; ++i)
    if (Status s = session->run(function, inputs, &outputs); !s.isOk())
      return fail("bench", s);
  std::vector<double> ms;
  for (long i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (Status s = session->run(function, inputs, &outputs); !s.isOk())
      return fail("bench", s);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("{\"function\":\"%s\",\"iterations\":%ld,\"median_ms\":%.6f,\"min_ms\":%.6f}\n",
              function.c_str(), iterations, ms.empty() ? 0.0 : ms[ms.size() / 2],
              ms.empty() ? 0.0 : ms.front());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: precis-rt run|train|bench ARTIFACT [--flag value ...]\n");
    return 2;
  }
  const std::string command = argv[1], path = argv[2];
  std::map<std::string, std::string> flags;
  if (command == "run")
    return parseFlags(argc, argv, {"inputs", "output-dir", "device", "function"}, &flags)
               ? runCommand(path, flags)
               : 2;
  if (command == "train")
    return parseFlags(argc, argv,
                      {"data", "steps", "lr", "log", "device", "warmup", "shuffle",
                       "checkpoint-dir", "checkpoint-every", "resume", "num-threads", "seed"},
                      &flags)
               ? trainCommand(path, flags)
               : 2;
  if (command == "bench")
    return parseFlags(argc, argv, {"function", "iterations", "warmup", "device"}, &flags)
               ? benchCommand(path, flags)
               : 2;
  std::fprintf(stderr, "precis-rt: unknown command '%s' (run, train or bench)\n", argv[1]);
  return 2;
}
