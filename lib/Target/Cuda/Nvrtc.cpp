//===- Nvrtc.cpp - compiling generated kernels with NVRTC -----------------===//
//
// Compiles a generated kernel to PTX and a cubin at compile time, so compile errors surface in
// the compiler and in CI. The headers kernels include (numerics.h, FastMath.h) travel inside
// the compiler as text (EmbedFile.cmake), not as paths into the source tree.
//
//===----------------------------------------------------------------------===//

#include "precis/Target/CudaEmitter.h"

#ifdef PRECIS_HAVE_NVRTC
#include <nvrtc.h>
#endif

using namespace mlir;

namespace precis {
namespace {

/// The text of runtime/include/precis/runtime/numerics.h, embedded at build time so that
/// the compiler does not depend on the source tree at run time.
const char *const kNumericsHeader =
#include "NumericsHeader.inc"
    ;
/// The text of runtime/include/precis/runtime/FastMath.h: the CPU backend's float exp, tanh,
/// sigmoid, erf and GELU, which float kernels call too (compiled with --fmad=false) so both
/// backends agree bit for bit on those ops.
const char *const kFastMathHeader =
#include "FastMathHeader.inc"
    ;

} // namespace

bool cudaCompilerAvailable() {
#ifdef PRECIS_HAVE_NVRTC
  return true;
#else
  return false;
#endif
}

LogicalResult compileCudaKernel(Operation *op, StringRef arch, CudaKernel &kernel) {
#ifdef PRECIS_HAVE_NVRTC
  if (!arch.starts_with("sm_"))
    return op->emitError("CUDA architecture '") << arch << "' is not of the form sm_XX";
  std::string virtualArch = ("compute_" + arch.drop_front(3)).str();
  auto run = [&](const std::string &gpuArch, bool wantCubin, std::string &out) -> LogicalResult {
    const char *headers[] = {kNumericsHeader, kFastMathHeader};
    const char *headerNames[] = {"precis/runtime/numerics.h", "precis/runtime/FastMath.h"};
    nvrtcProgram prog;
    std::string file = kernel.name + ".cu";
    if (nvrtcCreateProgram(&prog, kernel.source.c_str(), file.c_str(), 2, headers, headerNames) !=
        NVRTC_SUCCESS)
      return op->emitError("NVRTC cannot create a program for kernel ") << kernel.name;
    std::string archOpt = "--gpu-architecture=" + gpuArch;
    std::string includeOpt = std::string("--include-path=") + PRECIS_CUDA_INCLUDE_DIR;
    // --fmad=false: no a * b + c contracted into an FMA, as on the CPU (x86-64 without FMA
    // instructions), so element-wise results match the CPU backend's bit for bit.
    const char *opts[] = {archOpt.c_str(), includeOpt.c_str(), "--std=c++17",
                          "--device-as-default-execution-space", "--fmad=false"};
    nvrtcResult result = nvrtcCompileProgram(prog, 5, opts);
    size_t logSize = 0;
    nvrtcGetProgramLogSize(prog, &logSize);
    std::string log(logSize, '\0');
    if (logSize)
      nvrtcGetProgramLog(prog, log.data());
    if (result != NVRTC_SUCCESS) {
      nvrtcDestroyProgram(&prog);
      return op->emitError("NVRTC failed to compile kernel ")
             << kernel.name << " for " << gpuArch << " (" << nvrtcGetErrorString(result) << "):\n"
             << log << "\n--- source ---\n"
             << kernel.source;
    }
    size_t size = 0;
    nvrtcResult got = wantCubin ? nvrtcGetCUBINSize(prog, &size) : nvrtcGetPTXSize(prog, &size);
    out.assign(size, '\0');
    if (got == NVRTC_SUCCESS)
      got = wantCubin ? nvrtcGetCUBIN(prog, out.data()) : nvrtcGetPTX(prog, out.data());
    nvrtcDestroyProgram(&prog);
    if (got != NVRTC_SUCCESS)
      return op->emitError("NVRTC produced no ")
             << (wantCubin ? "cubin" : "PTX") << " for kernel " << kernel.name;
    if (!wantCubin && !out.empty() && out.back() == '\0')
      out.pop_back();
    return success();
  };
  if (failed(run(virtualArch, false, kernel.ptx)) || failed(run(arch.str(), true, kernel.cubin)))
    return failure();
  return success();
#else
  (void)arch;
  (void)kernel;
  return op->emitError("this build of precis has no CUDA compiler (NVRTC was not found when "
                       "it was configured)");
#endif
}

} // namespace precis
