//===- TrainStepTest.cpp - @train_step end to end on the MLP example ------===//
//
// Imports examples/mlp/model.onnx, runs precis-autodiff and precis-optimizer (SGD with momentum,
// AdamW), compiles the module and trains on the CPU runtime, feeding every @train_step output
// back as the next step's input, on rows [8i, 8i + 8) mod 64 of examples/mlp/data.npz.
//
// Two checks per optimizer:
//  * Host reference: the same steps, with the gradients from the compiled @gradients and the
//    update done here in fp64 from the formulas of torch.optim (parameters and state kept in
//    fp64, rounded to fp32 only to feed @gradients). Over 5 steps the two runs agree to
//    1e-5 relative (|a - b| <= 1e-5 (|b| + 1e-2) per element and per loss): both compute the
//    same gradients of nearly the same fp32 parameters; the difference is fp32 rounding in
//    the update kernels.
//  * PyTorch: the 40 losses of examples/mlp/reference_losses.json (torch 2.8, fp32, same
//    batches and hyperparameters) within 2e-5 absolute. The runs round differently (oneDNN vs
//    torch GEMMs); measured, the losses agree to 3e-7 over the 40 steps for both optimizers.
//
// The loss must also decrease over the run.
//
//===----------------------------------------------------------------------===//

#include "CompilerTestUtil.h"

#include "precis/Import/OnnxImporter.h"
#include "precis/InitAll.h"
#include "precis/Target/Artifact.h"
#include "precis/Transforms/Passes.h"
#include "precis/runtime/Npy.h"
#include "precis/runtime/Session.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>

namespace {

using precis::rt::DType;
using precis::rt::Tensor;

struct Config {
  const char *name;    // the optimizer option, and the key of reference_losses.json
  const char *options; // the precis-optimizer pipeline options
  double lr, momentum, weightDecay, beta1, beta2, eps;
};

const Config kSgd{"sgd", "optimizer=sgd momentum=0.9", 0.1, 0.9, 0, 0, 0, 0};
const Config kAdamW{"adamw", "optimizer=adamw weight-decay=0.01", 1e-3, 0, 0.01, 0.9, 0.999, 1e-8};

void PrintTo(const Config &c, std::ostream *os) { *os << c.name << " {" << c.options << "}"; }

/// The attribute values the kernels see are fp32.
double f32(double v) { return static_cast<float>(v); }

Tensor scalarTensor(float v) {
  Tensor t{DType::F32, {}, std::vector<uint8_t>(4)};
  std::memcpy(t.data.data(), &v, 4);
  return t;
}

Tensor floatTensor(const std::vector<int64_t> &shape, const std::vector<double> &values) {
  Tensor t{DType::F32, shape, std::vector<uint8_t>(values.size() * 4)};
  for (size_t i = 0; i < values.size(); ++i)
    t.as<float>()[i] = static_cast<float>(values[i]);
  return t;
}

/// Rows [begin, begin + count) of `t` along dimension 0.
Tensor rows(const Tensor &t, int64_t begin, int64_t count) {
  Tensor out{t.dtype, t.shape, {}};
  out.shape[0] = count;
  const size_t rowBytes = t.data.size() / static_cast<size_t>(t.shape[0]);
  out.data.assign(t.data.begin() + begin * rowBytes, t.data.begin() + (begin + count) * rowBytes);
  return out;
}

class TrainStep : public ::testing::TestWithParam<Config> {
protected:
  std::string dir_ = std::string(PRECIS_EXAMPLES_DIR) + "/mlp";
  precis::testing::TestCompiler compiler_;
};

TEST_P(TrainStep, MatchesHostUpdateAndPyTorch) {
  const Config c = GetParam();
  auto module = compiler_.importModel(dir_ + "/model.onnx");
  ASSERT_TRUE(module) << compiler_.diagnostics;
  std::unique_ptr<precis::rt::Session> session;
  ASSERT_TRUE(compiler_.compile(
      *module, std::string("precis-autodiff,precis-optimizer{") + c.options + "}", &session));
  precis::rt::Status status;

  // The contract, as the artifact names it.
  auto fn = module->lookupSymbol<mlir::func::FuncOp>("train_step");
  ASSERT_TRUE(fn);
  const precis::rt::FunctionInfo *info = session->findFunction("train_step");
  ASSERT_NE(info, nullptr);
  std::vector<std::string> params, batchNames;
  size_t numState = 0, stepIndex = 0;
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    if (auto p = fn.getArgAttrOfType<mlir::StringAttr>(i, "precis.param_name")) {
      params.push_back(p.str());
      EXPECT_EQ(info->inputs[i].name, p.str());
    } else if (auto s = fn.getArgAttrOfType<mlir::StringAttr>(i, "precis.state_name")) {
      EXPECT_EQ(info->inputs[i].name, s.str());
      if (s.getValue() == "step")
        stepIndex = i;
      else
        ++numState;
    } else if (auto n = fn.getArgAttrOfType<mlir::StringAttr>(i, "precis.onnx_name")) {
      batchNames.push_back(n.str());
    } else {
      EXPECT_TRUE(fn.getArgAttr(i, "precis.lr"));
      EXPECT_EQ(i, fn.getNumArguments() - 1);
      EXPECT_EQ(info->inputs[i].name, "lr");
    }
  }
  const size_t P = params.size();
  ASSERT_EQ(P, 6u); // three Gemm layers: weight and bias each
  ASSERT_EQ(numState, P * (std::string(c.name) == "sgd" ? 1 : 2));
  ASSERT_EQ(stepIndex, P + numState);
  ASSERT_EQ(info->outputs.size(), P + numState + 2);
  for (size_t k = 0; k < P; ++k)
    EXPECT_EQ(info->outputs[k].name, params[k]);
  EXPECT_EQ(info->outputs[P + numState].name, "step");
  EXPECT_EQ(info->outputs.back().name, "loss");

  std::vector<precis::rt::NamedTensor> data;
  ASSERT_TRUE(precis::rt::readNpz(dir_ + "/data.npz", &data).isOk());
  auto batchAt = [&](int step) {
    std::vector<Tensor> batch;
    for (const std::string &name : batchNames) {
      auto it = std::find_if(data.begin(), data.end(), [&](auto &t) { return t.name == name; });
      EXPECT_NE(it, data.end()) << name;
      batch.push_back(rows(it->tensor, (8 * step) % it->tensor.shape[0], 8));
    }
    return batch;
  };

  // Device state: params from @forward's blobs, zero optimizer state, step 0.
  std::vector<Tensor> state; // params..., optimizer state..., step
  std::vector<std::vector<double>> hostParams, hostState;
  for (const std::string &p : params) {
    Tensor t;
    ASSERT_TRUE(session->getParameter(p, &t).isOk()) << p;
    hostParams.emplace_back(t.as<float>(), t.as<float>() + t.numElements());
    state.push_back(std::move(t));
  }
  for (size_t s = 0; s < numState; ++s) {
    const Tensor &p = state[s / (numState / P)];
    Tensor zeros{DType::F32, p.shape, std::vector<uint8_t>(p.data.size(), 0)};
    hostState.emplace_back(p.numElements(), 0.0);
    state.push_back(std::move(zeros));
  }
  state.push_back(Tensor{DType::I64, {}, std::vector<uint8_t>(8, 0)}); // the step counter

  std::vector<double> losses, hostLosses;
  const int kSteps = 40, kHostSteps = 5;
  const double lr = f32(c.lr);
  for (int step = 0; step < kSteps; ++step) {
    std::vector<Tensor> batch = batchAt(step);
    std::vector<Tensor> inputs = state;
    inputs.insert(inputs.end(), batch.begin(), batch.end());
    inputs.push_back(scalarTensor(static_cast<float>(c.lr)));
    std::vector<Tensor> outputs;
    status = session->run("train_step", inputs, &outputs);
    ASSERT_TRUE(status.isOk()) << status.message();
    ASSERT_EQ(outputs.size(), state.size() + 1);
    losses.push_back(outputs.back().as<float>()[0]);
    outputs.pop_back();
    state = std::move(outputs);
    EXPECT_EQ(state.back().as<int64_t>()[0], step + 1);
    if (step >= kHostSteps)
      continue;

    // The host reference step: @gradients(batch..., params...) -> (loss, grads...), then the
    // torch.optim update in fp64.
    std::vector<Tensor> gradInputs = batch;
    for (size_t k = 0; k < P; ++k)
      gradInputs.push_back(floatTensor(state[k].shape, hostParams[k]));
    std::vector<Tensor> grads;
    status = session->run("gradients", gradInputs, &grads);
    ASSERT_TRUE(status.isOk()) << status.message();
    hostLosses.push_back(grads[0].as<float>()[0]);
    const double t = step + 1;
    for (size_t k = 0; k < P; ++k) {
      std::vector<double> &p = hostParams[k];
      const float *g = grads[k + 1].as<float>();
      for (size_t i = 0; i < p.size(); ++i) {
        if (std::string(c.name) == "sgd") {
          double &buf = hostState[k][i];
          buf = step == 0 ? g[i] : f32(c.momentum) * buf + g[i];
          p[i] -= lr * buf;
        } else {
          double &m = hostState[2 * k][i], &v = hostState[2 * k + 1][i];
          const double b1 = f32(c.beta1), b2 = f32(c.beta2);
          p[i] *= 1 - lr * f32(c.weightDecay);
          m = b1 * m + (1 - b1) * g[i];
          v = b2 * v + (1 - b2) * g[i] * g[i];
          const double denom = std::sqrt(v) / std::sqrt(1 - std::pow(b2, t)) + f32(c.eps);
          p[i] -= lr / (1 - std::pow(b1, t)) * m / denom;
        }
      }
    }
    EXPECT_LE(std::fabs(losses[step] - hostLosses[step]), 1e-5 * std::fabs(hostLosses[step]))
        << "step " << step;
    double worst = 0;
    for (size_t k = 0; k < P; ++k)
      for (size_t i = 0; i < hostParams[k].size(); ++i) {
        const double ref = hostParams[k][i], got = state[k].as<float>()[i];
        worst = std::max(worst, std::fabs(got - ref) / (std::fabs(ref) + 1e-2));
      }
    EXPECT_LE(worst, 1e-5) << "parameters after step " << step + 1;
    if (step + 1 == kHostSteps)
      std::printf("%s: worst parameter difference to the host fp64 update after %d steps: %.3g\n",
                  c.name, kHostSteps, worst);
  }
  EXPECT_LT(losses.back(), losses.front());
  EXPECT_LT(losses[kHostSteps - 1], losses[0]);

  // PyTorch's losses for the same run.
  auto buffer = llvm::MemoryBuffer::getFile(dir_ + "/reference_losses.json");
  ASSERT_TRUE(bool(buffer)) << "cannot read " << dir_ << "/reference_losses.json";
  auto json = llvm::json::parse((*buffer)->getBuffer());
  ASSERT_TRUE(bool(json)) << llvm::toString(json.takeError());
  const llvm::json::Array *ref = json->getAsObject()->getArray(c.name);
  ASSERT_NE(ref, nullptr);
  ASSERT_GE(ref->size(), losses.size());
  double worst = 0;
  for (size_t i = 0; i < losses.size(); ++i) {
    const double want = *(*ref)[i].getAsNumber();
    worst = std::max(worst, std::fabs(losses[i] - want));
    EXPECT_NEAR(losses[i], want, 2e-5) << "step " << i;
  }
  std::printf("%s: worst loss difference to PyTorch over %d steps: %.3g\n", c.name, kSteps, worst);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TrainStep, ::testing::Values(kSgd, kAdamW),
                         [](const auto &info) { return std::string(info.param.name); });

} // namespace
