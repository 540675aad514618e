//===- Bench.cpp - precis bench ---------------------------------------------===//
//
// `precis bench`: times a function of an artifact or model.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "precis/runtime/numerics.h"
#include "precis/runtime/Random.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <chrono>
#include <thread>

using namespace llvm;

namespace precis::driver {

/// A deterministic stand-in input for `precis bench` without --inputs (splitmix64 from a fixed
/// seed per input): floats uniform in [-1, 1), rounded to the input's dtype; integers and
/// booleans in {0, 1}, in range for any index, class or token input over at least two entries.
precis::rt::Tensor benchInput(const precis::rt::TensorInfo &info, uint64_t seed) {
  precis::rt::Tensor t;
  t.dtype = info.dtype;
  t.shape = info.shape;
  t.data.resize(t.view().byteSize());
  rt::SplitMix64 random(seed);
  auto next = [&] { return random.next(); };
  auto uniform = [&] { return static_cast<float>(next() >> 40) * 0x1p-23f - 1.0f; };
  using precis::rt::DType;
  for (int64_t i = 0, n = t.numElements(); i < n; ++i) {
    switch (t.dtype) {
    case DType::F32:
      t.as<float>()[i] = uniform();
      break;
    case DType::F64:
      t.as<double>()[i] = uniform();
      break;
    case DType::F16:
      t.as<uint16_t>()[i] = precis::float_to_fp16(uniform());
      break;
    case DType::BF16:
      t.as<uint16_t>()[i] = precis::float_to_bf16(uniform());
      break;
    case DType::F8E4M3FN:
      t.as<uint8_t>()[i] = precis::float_to_fp8_e4m3fn(uniform());
      break;
    case DType::F8E5M2:
      t.as<uint8_t>()[i] = precis::float_to_fp8_e5m2(uniform());
      break;
    case DType::I64:
      t.as<int64_t>()[i] = next() >> 63;
      break;
    case DType::I32:
      t.as<int32_t>()[i] = static_cast<int32_t>(next() >> 63);
      break;
    case DType::I8:
    case DType::U8:
    case DType::Bool:
      t.as<uint8_t>()[i] = static_cast<uint8_t>(next() >> 63);
      break;
    case DType::Unspecified:
      break;
    }
  }
  return t;
}

int runBench(int argc, char **argv) {
  static cl::opt<std::string> inputsNpz(
      "inputs",
      cl::desc("Function inputs from a .npz whose arrays are named after them (default: "
               "deterministic random inputs, floats in [-1, 1), integers in {0, 1})"),
      cl::value_desc("file.npz"), cl::cat(optionCategory()));
  static SessionFlags sessionFlags;
  static cl::opt<int> warmup("warmup", cl::desc("Untimed runs first"), cl::init(10),
                             cl::cat(optionCategory()));
  static cl::opt<int> iterations("iterations", cl::desc("Timed runs"), cl::init(100),
                                 cl::cat(optionCategory()));
  static cl::opt<std::string> jsonPath("json", cl::desc("Also write the numbers as JSON"),
                                       cl::value_desc("out.json"), cl::cat(optionCategory()));
  parseCommandLine(argc, argv,
                   "precis bench: time a function of an artifact or model on the "
                   "CPU\n");
  const char *tool = "precis bench";
  auto fail = [&](const precis::rt::Status &status) {
    errs() << tool << ": error: " << status.message() << "\n";
    return 1;
  };
  if (iterations < 1)
    return fail(precis::rt::invalidArgument("--iterations must be positive, got " +
                                            std::to_string(iterations)));
  if (warmup < 0)
    return fail(precis::rt::invalidArgument("--warmup must not be negative, got " +
                                            std::to_string(warmup)));

  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  precis::rt::SessionOptions options = sessionFlags.sessionOptions();
  // Inputs from the .npz (a model whose shapes depend on some of them is specialised on their
  // values), or deterministic random ones.
  std::vector<precis::rt::NamedTensor> named;
  if (!inputsNpz.empty())
    if (precis::rt::Status s = precis::rt::readNpz(inputsNpz, &named); !s)
      return fail(s);
  std::unique_ptr<precis::rt::Session> session;
  const Clock::time_point loadStart = Clock::now();
  if (precis::rt::Status s =
          openSession(sessionFlags.model, options, sessionFlags.batch, &session, &named);
      !s)
    return fail(s);
  const double loadMs = ms(Clock::now() - loadStart);
  const precis::rt::FunctionInfo *info = session->findFunction(sessionFlags.function);
  if (!info)
    return fail(
        precis::rt::notFound("the artifact has no function '" + sessionFlags.function + "'"));

  if (inputsNpz.empty()) {
    for (size_t i = 0; i < info->inputs.size(); ++i)
      named.push_back({info->inputs[i].name, benchInput(info->inputs[i], /*seed=*/i + 1)});
  }
  std::vector<precis::rt::TensorView> args;
  auto notInFile = [&](const std::string &) { return "not in " + inputsNpz; };
  if (precis::rt::Status s = matchInputs(*info, named, notInFile, &args); !s)
    return fail(s);

  std::vector<precis::rt::Tensor> outputs;
  for (int i = 0; i < warmup; ++i)
    if (precis::rt::Status s = session->run(sessionFlags.function, args, &outputs); !s)
      return fail(s);
  std::vector<double> samples;
  samples.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    const Clock::time_point start = Clock::now();
    if (precis::rt::Status s = session->run(sessionFlags.function, args, &outputs); !s)
      return fail(s);
    samples.push_back(ms(Clock::now() - start));
  }
  double total = 0;
  for (double t : samples)
    total += t;
  const double mean = total / samples.size();
  std::sort(samples.begin(), samples.end());
  const size_t mid = samples.size() / 2;
  const double median = samples.size() % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
  const double throughput = 1000.0 / mean;
  const int numThreads = sessionFlags.threads
                             ? sessionFlags.threads.getValue()
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string inputsDesc = inputsNpz.empty() ? "random" : inputsNpz.getValue();

  outs() << formatv("model:      {0}\n"
                    "function:   {1}\n"
                    "inputs:     {2}\n"
                    "threads:    {3}\n"
                    "load:       {4:f3} ms\n"
                    "iterations: {5} timed, after {6} warmup\n"
                    "latency:    min {7:f4} ms, median {8:f4} ms, mean {9:f4} ms\n"
                    "throughput: {10:f1} iterations/s\n",
                    sessionFlags.model, sessionFlags.function, inputsDesc, numThreads, loadMs,
                    iterations, warmup, samples.front(), median, mean, throughput);

  if (!jsonPath.empty()) {
    json::Object result{
        {"model", sessionFlags.model.getValue()},
        {"function", sessionFlags.function.getValue()},
        {"inputs", inputsDesc},
        {"threads", numThreads},
        {"warmup", warmup.getValue()},
        {"iterations", iterations.getValue()},
        {"load_ms", loadMs},
        {"latency_ms", json::Object{{"min", samples.front()}, {"median", median}, {"mean", mean}}},
        {"throughput_per_s", throughput}};
    std::error_code ec;
    raw_fd_ostream os(jsonPath, ec);
    if (ec)
      return fail(precis::rt::ioError("cannot write '" + jsonPath + "': " + ec.message()));
    os << formatv("{0:2}", json::Value(std::move(result))) << "\n";
    os.close();
    if (os.has_error()) {
      os.clear_error();
      return fail(precis::rt::ioError("cannot write '" + jsonPath + "'"));
    }
  }
  return 0;
}

} // namespace precis::driver
