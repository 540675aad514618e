"""Inputs for test/Import/einsum.onnxtxt, and its outputs checked against numpy.einsum in
float64 (relative 1e-5 of the largest magnitude: fp32 matmuls and sums of a few terms)."""
import sys

import numpy as np

EQUATIONS = {
    "s": ("bhid,bhjd->bhij", ["q", "k"]),
    "c": ("ik,kj->ji", ["a", "b"]),
    "o": ("i,j->ij", ["u", "v"]),
    "r": ("bhid->d", ["q"]),
    "d": ("ij,kj", ["a", "a"]),
}
SHAPES = {"q": (2, 3, 4, 5), "k": (2, 3, 6, 5), "a": (4, 7), "b": (7, 6), "u": (4,), "v": (6,)}

if sys.argv[1] == "inputs":
    rng = np.random.default_rng(11)
    np.savez(sys.argv[2], **{n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in SHAPES.items()})
    sys.exit(0)

inputs = np.load(sys.argv[2])
bad = 0
for name, (eq, operands) in EQUATIONS.items():
    got = np.load(f"{sys.argv[3]}/{name}.npy")
    want = np.einsum(eq, *[inputs[o].astype(np.float64) for o in operands])
    err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30)
    print(f"{name} = einsum('{eq}'): relative error {err:.2e}")
    if got.shape != want.shape or not err <= 1e-5:
        print(f"  FAILED: shape {got.shape} vs {want.shape}")
        bad += 1
sys.exit(1 if bad else 0)
