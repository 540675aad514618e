# lit configuration for precis: .mlir pass/dialect tests and .onnxtxt importer tests.
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "PRECIS"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".onnxtxt", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.precis_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in", "Inputs"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%precis_src", config.precis_src_root))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.precis_tools_dir, append_path=True)

tool_dirs = [config.precis_tools_dir, config.llvm_tools_dir]
tools = ["precis-opt", "precis", ToolSubst("%python", config.python_executable, unresolved="ignore")]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# The CUDA target's tests need NVRTC (found with the CUDA toolkit at configure time).
if config.precis_cuda.upper() in ("TRUE", "ON", "YES", "1"):
    config.available_features.add("cuda")
    config.substitutions.append(("%ptxas", os.path.join(config.cuda_bin_dir, "ptxas")))
