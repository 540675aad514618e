//===- GradientTest.cpp - autodiff against central finite differences ------===//
//
// The numerics gate of the autodiff pass: for every differentiable op, a tiny f64 `@forward`
// applies the op to random trainable parameters and projects the result to a scalar loss,
// `reduce_sum(mul(out, R))` with a fixed random R. `precis-autodiff` builds `@gradients`,
// which is compiled with buildArtifact and run on the CPU runtime; each gradient entry is
// compared with the central difference (f(x + h) - f(x - h)) / 2h, h = 1e-6 max(1, |x|), where
// f is `@forward` run through the runtime with the parameter overwritten (setParameter).
//
// The example models (fp32) are checked end to end the same way along random directions:
// <grad, v> against (f(theta + h v) - f(theta - h v)) / 2h on their first batch.
//
// Inputs are drawn fresh each run (away from kinks for relu, abs, max, min and the max
// reductions and poolings, positive where the op needs it); the seed is printed with every
// failure and PRECIS_TEST_SEED=<seed> replays it. The default tolerance, |ad - fd| <=
// 1e-6 |fd| + 1e-7, covers the O(h^2) truncation and the O(eps |f| / h) rounding of the
// difference quotient for losses of order 10.
//
//===----------------------------------------------------------------------===//

#include "CompilerTestUtil.h"
#include "GradientCases.h"

#include "precis/Import/OnnxImporter.h"
#include "precis/InitAll.h"
#include "precis/Target/Artifact.h"
#include "precis/runtime/Npy.h"
#include "precis/runtime/Session.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>

namespace {

using namespace precis::testing::gradient;

std::string denseOf(const std::vector<double> &v) {
  std::ostringstream os;
  os.precision(17);
  os << "dense<[";
  for (size_t i = 0; i < v.size(); ++i)
    os << (i ? ", " : "") << v[i];
  os << "]>";
  return os.str();
}

std::vector<double> draw(std::mt19937_64 &rng, const Param &p) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(static_cast<size_t>(count(p.shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (p.domain) {
    case Domain::Normal:
      v[i] = 2 * u(rng) - 1;
      break;
    case Domain::Positive:
      v[i] = 0.5 + 1.5 * u(rng);
      break;
    case Domain::AwayFromZero:
      v[i] = (0.2 + 0.8 * u(rng)) * (u(rng) < 0.5 ? -1 : 1);
      break;
    case Domain::Small:
      v[i] = 0.2 * u(rng) - 0.1;
      break;
    case Domain::Distinct:
      v[i] = 0.1 * static_cast<double>(i) - 0.05 * static_cast<double>(v.size()) + 0.02 * u(rng);
      break;
    }
  }
  if (p.domain == Domain::Distinct)
    std::shuffle(v.begin(), v.end(), rng);
  return v;
}

std::string replaceAll(std::string s, const std::string &from, const std::string &to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

/// The module text: @forward with the parameters as `precis.parameter` ops, values flat.
std::string moduleText(const Case &c, const std::vector<std::vector<double>> &values,
                       const std::vector<double> &projection) {
  std::ostringstream os;
  os << "func.func @forward() -> tensor<f64> {\n";
  for (size_t k = 0; k < c.params.size(); ++k) {
    const auto &shape = c.params[k].shape;
    std::vector<int64_t> flat{count(shape)};
    os << "  %flat" << k << " = precis.parameter \"p" << k << "\" = " << denseOf(values[k]) << " : "
       << typeOf(flat) << "\n";
    os << "  %p" << k << " = precis.reshape %flat" << k << " : " << typeOf(flat) << " to "
       << typeOf(shape) << "\n";
  }
  std::string body = c.body;
  for (size_t k = 0; k < c.params.size(); ++k)
    body = replaceAll(body, "{p" + std::to_string(k) + "}", typeOf(c.params[k].shape));
  body = replaceAll(body, "{out}", typeOf(c.out));
  os << body << "\n";
  std::vector<int64_t> flatOut{count(c.out)};
  os << "  %rflat = precis.constant " << denseOf(projection) << " : " << typeOf(flatOut) << "\n";
  os << "  %r = precis.reshape %rflat : " << typeOf(flatOut) << " to " << typeOf(c.out) << "\n";
  os << "  %m = precis.mul %out, %r : (" << typeOf(c.out) << ", " << typeOf(c.out) << ") -> "
     << typeOf(c.out) << "\n";
  os << "  %loss = precis.reduce_sum %m {axes = array<i64>, keepdims = false} : (" << typeOf(c.out)
     << ") -> tensor<f64>\n";
  os << "  return %loss : tensor<f64>\n}\n";
  return os.str();
}

uint64_t testSeed() {
  if (const char *env = std::getenv("PRECIS_TEST_SEED"))
    return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

precis::rt::Tensor f64Tensor(const std::vector<int64_t> &shape, const std::vector<double> &v) {
  precis::rt::Tensor t;
  t.dtype = precis::rt::DType::F64;
  t.shape = shape;
  t.data.resize(v.size() * sizeof(double));
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

class Gradient : public ::testing::TestWithParam<Case> {};

TEST_P(Gradient, MatchesFiniteDifferences) {
  const Case &c = GetParam();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (PRECIS_TEST_SEED replays it)");
  std::mt19937_64 rng(seed);
  std::vector<std::vector<double>> values;
  for (const Param &p : c.params)
    values.push_back(draw(rng, p));
  std::vector<double> projection = draw(rng, Param{c.out, Domain::Normal});

  precis::testing::TestCompiler compiler;
  const std::string text = moduleText(c, values, projection);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &compiler.context);
  ASSERT_TRUE(module) << compiler.diagnostics << text;
  std::unique_ptr<precis::rt::Session> session;
  ASSERT_TRUE(compiler.compile(*module, "precis-autodiff", &session)) << text;
  precis::rt::Status status;

  // Gradients at the drawn point. @gradients takes the flat parameters in initializer order.
  std::vector<precis::rt::Tensor> args, outputs;
  for (size_t k = 0; k < c.params.size(); ++k)
    args.push_back(f64Tensor({count(c.params[k].shape)}, values[k]));
  status = session->run("gradients", args, &outputs);
  ASSERT_TRUE(status.isOk()) << status.message();
  ASSERT_EQ(outputs.size(), c.params.size() + 1);

  auto lossAt = [&](size_t k, const std::vector<double> &v) {
    precis::rt::Tensor t = f64Tensor({count(c.params[k].shape)}, v);
    EXPECT_TRUE(session->setParameter("p" + std::to_string(k), t.view()).isOk());
    std::vector<precis::rt::Tensor> out;
    precis::rt::Status s = session->run("forward", std::vector<precis::rt::Tensor>{}, &out);
    EXPECT_TRUE(s.isOk()) << s.message();
    return s.isOk() ? out[0].as<double>()[0] : NAN;
  };
  for (size_t k = 0; k < c.params.size(); ++k) {
    const double *grad = outputs[k + 1].as<double>();
    ASSERT_EQ(outputs[k + 1].numElements(), count(c.params[k].shape));
    std::vector<double> v = values[k];
    for (size_t i = 0; i < v.size(); ++i) {
      const double x = values[k][i], h = c.step * std::max(1.0, std::fabs(x));
      v[i] = x + h;
      const double up = lossAt(k, v);
      v[i] = x - h;
      const double down = lossAt(k, v);
      v[i] = x;
      const double fd = (up - down) / (2 * h);
      EXPECT_LE(std::fabs(grad[i] - fd), c.rel * std::fabs(fd) + c.abs)
          << c.name << ": d loss / d p" << k << "[" << i << "] autodiff " << grad[i]
          << ", finite difference " << fd;
    }
    lossAt(k, values[k]); // restore
  }
}

std::string caseName(const ::testing::TestParamInfo<Case> &info) { return info.param.name; }


INSTANTIATE_TEST_SUITE_P(Ops, Gradient, ::testing::ValuesIn(allCases()), caseName);

//===----------------------------------------------------------------------===//
// The example models end to end, in fp32: a directional derivative along a random direction
// through every trainable parameter. fp32 losses carry ~1e-6 of rounding noise, so the step
// is 1e-3 and the tolerance 1e-2 relative (+ 2e-3 absolute). Only the smooth models (GELU,
// softmax, layer norm) qualify: a 1e-3 step through the CNN crosses enough ReLU and max-pool
// kinks to move the difference quotient by percents, so its layer stack is checked in f64
// instead (the `cnn_stack` case above).
//===----------------------------------------------------------------------===//

class ExampleGradients : public ::testing::TestWithParam<const char *> {};

TEST_P(ExampleGradients, DirectionalDerivativeMatchesFiniteDifference) {
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (PRECIS_TEST_SEED replays it)");
  std::mt19937_64 rng(seed);
  std::string dir = std::string(PRECIS_EXAMPLES_DIR) + "/" + GetParam();
  precis::testing::TestCompiler compiler;
  auto module = compiler.importModel(dir + "/model.onnx");
  ASSERT_TRUE(module) << compiler.diagnostics;
  std::unique_ptr<precis::rt::Session> session;
  ASSERT_TRUE(compiler.compile(*module, "precis-autodiff", &session));
  precis::rt::Status status;

  // @gradients(batch inputs..., params...) with the parameters' initial values.
  auto fn = module->lookupSymbol<mlir::func::FuncOp>("gradients");
  ASSERT_TRUE(fn);
  std::vector<precis::rt::NamedTensor> batch;
  ASSERT_TRUE(precis::rt::readNpz(dir + "/batch0.npz", &batch).isOk());
  std::vector<precis::rt::Tensor> args;
  std::vector<std::string> params;
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    if (auto p = fn.getArgAttrOfType<mlir::StringAttr>(i, "precis.param_name")) {
      params.push_back(p.str());
      precis::rt::Tensor t;
      ASSERT_TRUE(session->getParameter(p.str(), &t).isOk()) << p.str();
      args.push_back(std::move(t));
      continue;
    }
    auto name = fn.getArgAttrOfType<mlir::StringAttr>(i, "precis.onnx_name");
    ASSERT_TRUE(name);
    auto it = std::find_if(batch.begin(), batch.end(),
                           [&](auto &t) { return t.name == name.getValue(); });
    ASSERT_NE(it, batch.end()) << name.str();
    args.push_back(it->tensor);
  }
  const size_t numInputs = args.size() - params.size();
  ASSERT_FALSE(params.empty());
  std::vector<precis::rt::Tensor> outputs;
  status = session->run("gradients", args, &outputs);
  ASSERT_TRUE(status.isOk()) << status.message();
  ASSERT_EQ(outputs.size(), params.size() + 1);

  // <grad, v> in double, and the loss at theta +- h v through @forward.
  std::normal_distribution<double> normal;
  std::vector<std::vector<float>> direction;
  double directional = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    const precis::rt::Tensor &g = outputs[k + 1];
    ASSERT_EQ(g.shape, args[numInputs + k].shape) << params[k];
    std::vector<float> v(static_cast<size_t>(g.numElements()));
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = static_cast<float>(normal(rng));
      directional += static_cast<double>(g.as<float>()[i]) * v[i];
    }
    direction.push_back(std::move(v));
  }
  std::vector<precis::rt::Tensor> forwardInputs(args.begin(), args.begin() + numInputs);
  const double h = 1e-3;
  auto lossAt = [&](double scale) {
    for (size_t k = 0; k < params.size(); ++k) {
      precis::rt::Tensor t = args[numInputs + k];
      for (size_t i = 0; i < direction[k].size(); ++i)
        t.as<float>()[i] += static_cast<float>(scale * direction[k][i]);
      EXPECT_TRUE(session->setParameter(params[k], t.view()).isOk()) << params[k];
    }
    std::vector<precis::rt::Tensor> out;
    precis::rt::Status s = session->run("forward", forwardInputs, &out);
    EXPECT_TRUE(s.isOk()) << s.message();
    return s.isOk() ? static_cast<double>(out[0].as<float>()[0]) : NAN;
  };
  const double fd = (lossAt(h) - lossAt(-h)) / (2 * h);
  EXPECT_LE(std::fabs(directional - fd), 1e-2 * std::fabs(fd) + 2e-3)
      << GetParam() << ": <grad, v> " << directional << ", finite difference " << fd;
  EXPECT_GT(std::fabs(directional), 1e-3) << "degenerate direction";
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleGradients, ::testing::Values("mlp", "gpt"));

} // namespace
