// embed.cpp - the precis runtime from C++: load an artifact, run it from several threads at
// once, train a few steps.
//
//   embed_cpp model.precis batch.npz data.npz [steps]
//
// model.precis is compiled with `precis compile model.onnx --train -o model.precis`;
// batch.npz holds one array per input of its `forward` function, by name; data.npz one array
// per batch input, rows first (examples/mlp/batch0.npz, data.npz). Prints the outputs of
// `forward` on batch.npz, checks that 4 threads running it concurrently on the same session
// get the same bytes, then prints the loss of each training step (plain SGD, lr 0.1). Exit
// code 1 on any error.
#include <precis/runtime/Npy.h>
#include <precis/runtime/Session.h>
#include <precis/runtime/Training.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace precis::rt;

namespace {

bool failed(const Status &status, const std::string &what) {
  if (status.isOk())
    return false;
  std::fprintf(stderr, "embed_cpp: %s: %s\n", what.c_str(), status.message().c_str());
  return true;
}

int runForward(const std::string &artifact, const std::string &batchPath) {
  std::unique_ptr<Session> session;
  SessionOptions options;
  options.numThreads = 1; // one kernel thread per run: the callers bring the parallelism
  if (failed(Session::createFromFile(artifact, options, &session), artifact))
    return 1;
  const FunctionInfo *forward = session->findFunction("forward");
  std::vector<NamedTensor> arrays;
  if (!forward || failed(readNpz(batchPath, &arrays), batchPath))
    return 1;
  // The batch's arrays in the order of forward's inputs.
  std::vector<Tensor> inputs;
  for (const TensorInfo &in : forward->inputs) {
    const NamedTensor *found = nullptr;
    for (const NamedTensor &a : arrays)
      if (a.name == in.name)
        found = &a;
    if (!found) {
      std::fprintf(stderr, "embed_cpp: %s has no array '%s'\n", batchPath.c_str(), in.name.c_str());
      return 1;
    }
    inputs.push_back(found->tensor);
  }
  std::vector<Tensor> outputs;
  if (failed(session->run("forward", inputs, &outputs), "run"))
    return 1;
  for (size_t k = 0; k < outputs.size(); ++k)
    if (outputs[k].dtype == DType::F32 && outputs[k].numElements() > 0)
      std::printf("forward output %s: %s, first value %.7g\n", forward->outputs[k].name.c_str(),
                  typeString(outputs[k].dtype, outputs[k].shape).c_str(),
                  outputs[k].as<float>()[0]);

  // Session::run is thread-safe: the threads share the weights, each run has its own arena.
  std::vector<std::vector<Tensor>> results(4);
  std::vector<Status> statuses(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t)
    threads.emplace_back([&, t] { statuses[t] = session->run("forward", inputs, &results[t]); });
  for (std::thread &th : threads)
    th.join();
  for (size_t t = 0; t < results.size(); ++t) {
    if (failed(statuses[t], "concurrent run"))
      return 1;
    for (size_t k = 0; k < outputs.size(); ++k)
      if (results[t][k].data != outputs[k].data) {
        std::fprintf(stderr, "embed_cpp: concurrent run %zu differs in output %zu\n", t, k);
        return 1;
      }
  }
  std::printf("concurrent runs: %zu threads, identical outputs\n", results.size());
  return 0;
}

int train(const std::string &artifact, const std::string &data, int steps) {
  std::unique_ptr<TrainingSession> session;
  if (failed(TrainingSession::createFromFile(artifact, {}, &session), artifact) ||
      failed(session->openData(data), data))
    return 1;
  for (int step = 0; step < steps; ++step) {
    float loss = 0;
    if (failed(session->step(0.1f, &loss), "step"))
      return 1;
    std::printf("train step %d loss %.7g\n", step, loss);
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: embed_cpp model.precis batch.npz data.npz [steps]\n");
    return 2;
  }
  const int steps = argc > 4 ? std::atoi(argv[4]) : 20;
  if (runForward(argv[1], argv[2]) || train(argv[1], argv[3], steps))
    return 1;
  return 0;
}
