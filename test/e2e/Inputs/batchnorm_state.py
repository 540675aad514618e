"""NumPy reference for batchnorm-state.test: BatchNorm running statistics as training state.

  data DIR                 writes DIR/data.npz (8 rows of x and t: two batches of 4) and
                           DIR/x.npz (the first batch's x)
  stats CKPT DATA STEPS    checks the checkpoint's running mean and variance (rm, rv) against
                           the momentum update of batchnorm-train.onnxtxt (ONNX's rule: biased
                           batch variance), batches taken in order
  infer CKPT XNPZ OUT      checks the inference export's output z against eval-mode BatchNorm
                           on the checkpoint's parameters and statistics
"""
import sys

import numpy as np

MOMENTUM, EPS = 0.8, 1e-3
RM0 = np.array([0.5, -1.0, 2.0])
RV0 = np.array([1.0, 2.0, 0.5])


def check(name, got, want, rtol, atol):
    got = np.asarray(got, np.float64)
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        sys.exit(f"{name}: got {got}, want {want} (rtol {rtol}, atol {atol})")
    print(f"{name}: ok (max abs error {np.max(np.abs(got - want)):.3g})")


def main():
    mode = sys.argv[1]
    if mode == "data":
        rng = np.random.default_rng(11)
        x = (rng.standard_normal((8, 3, 2, 2)) * [[[[1.0]], [[3.0]], [[0.5]]]] + [[[[2.0]], [[-1.0]], [[0.0]]]])
        t = rng.standard_normal((8, 3, 2, 2))
        np.savez(sys.argv[2] + "/data.npz", x=x.astype(np.float32), t=t.astype(np.float32))
        np.savez(sys.argv[2] + "/x.npz", x=x[:4].astype(np.float32))
    elif mode == "stats":
        ckpt, data, steps = np.load(sys.argv[2]), np.load(sys.argv[3]), int(sys.argv[4])
        x = data["x"].astype(np.float64)
        rm, rv = RM0.copy(), RV0.copy()
        for k in range(steps):
            batch = x[4 * (k % 2): 4 * (k % 2) + 4]
            rm = MOMENTUM * rm + (1 - MOMENTUM) * batch.mean(axis=(0, 2, 3))
            rv = MOMENTUM * rv + (1 - MOMENTUM) * batch.var(axis=(0, 2, 3))  # biased (ONNX)
        check("running mean", ckpt["rm"], rm, 1e-5, 1e-6)
        check("running var", ckpt["rv"], rv, 1e-5, 1e-6)
    elif mode == "infer":
        ckpt, x = np.load(sys.argv[2]), np.load(sys.argv[3])["x"].astype(np.float64)
        z = np.load(sys.argv[4])
        c = lambda v: np.asarray(ckpt[v], np.float64).reshape(1, 3, 1, 1)
        y = (x - c("rm")) / np.sqrt(c("rv") + EPS) * c("s") + c("b")
        check("inference output", z, y * np.asarray(ckpt["w"], np.float64), 1e-5, 1e-5)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
