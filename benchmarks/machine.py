"""What the benchmark scripts share: the machine and revision they print, the peak-memory
launcher, the torch environment, and loading a module by path."""
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), or what Python knows of the processor."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def revision():
    """`git describe --always --dirty` of the checkout, or "unknown"."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fail(message):
    """Exits with message, prefixed by the running script's name."""
    sys.exit(f"{os.path.basename(sys.argv[0])}: {message}")


def load_module(path, name):
    """Imports the file at path as module name (the model builders of other scripts)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# Runs a command from a small launcher and prints its stdout, then its peak RSS (KiB, wait4's
# rusage) on the last line: Linux keeps a process's high-water mark across fork and exec, so a
# child forked straight from a torch-sized process would report at least that process's RSS.
MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out = proc.stdout.read()
err = proc.stderr.read()
_, status, usage = os.wait4(proc.pid, 0)
code = os.waitstatus_to_exitcode(status)
if code:
    sys.stderr.write(err.decode(errors="replace")[-4000:])
    sys.exit(code)
sys.stdout.write(out.decode(errors="replace"))
print(usage.ru_maxrss)
"""


def measured(cmd, env=None):
    """(stdout of cmd, peak RSS of cmd in MiB); exits if cmd fails."""
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", MEASURE] + cmd, capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = proc.stdout.strip().splitlines()
    return "\n".join(lines[:-1]), int(lines[-1]) / 1024.0  # Linux reports KiB


def torch_python(python=None):
    """python if given, else the Python of the environment scripts/torch-env.sh makes."""
    if python:
        return python
    out = subprocess.run([os.path.join(ROOT, "scripts", "torch-env.sh")], capture_output=True,
                         text=True)
    if out.returncode != 0:
        fail(f"scripts/torch-env.sh failed:\n{out.stderr[-4000:]}")
    return out.stdout.strip().splitlines()[-1]
