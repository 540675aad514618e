"""NumPy (float64) reference for the lowered normalisations and composite reductions.

`gen DIR` writes the inputs of norms-opset18.onnxtxt and norms-opset21.onnxtxt; `check DIR
OPSET` compares the .npy outputs `precis run --output-dir DIR/OPSET` wrote with the reference:
forward values directly, gradients against central finite differences of the float64 loss.
"""

import sys

import numpy as np

RTOL, ATOL = 1e-4, 1e-5  # forward: fp32 kernels against float64
GRAD_TOL = 2e-4  # gradients: |precis - finite difference| <= GRAD_TOL * (1 + |fd|)


def inputs():
    r = np.random.default_rng(11)
    f = lambda *s: r.standard_normal(s).astype(np.float32)
    return {"x": 2.0 * f(2, 4, 3, 3) + 0.5, "s": f(4), "b": f(4), "gs": f(2), "gb": f(2),
            "w": f(2, 4, 3, 3)}


def normalize(x, groups, eps):
    n = x.shape[0]
    g = x.reshape(n, groups, -1)
    mean = g.mean(axis=2, keepdims=True)
    var = ((g - mean) ** 2).mean(axis=2, keepdims=True)
    return (g - mean) / np.sqrt(var + eps)


def instance_norm(x, s, b):
    y = normalize(x, x.shape[1], 0.01)
    return (y * s[:, None] + b[:, None]).reshape(x.shape)


def group_norm18(x, s, b):
    y = normalize(x, 2, 0.001)
    return (y * s[:, None] + b[:, None]).reshape(x.shape)


def group_norm21(x, s, b):
    y = normalize(x, 2, 0.001).reshape(x.shape[0], x.shape[1], -1)
    return (y * s[:, None] + b[:, None]).reshape(x.shape)


W0 = np.array([0.5, -1.0, 2.0, 0.25, -0.75, 1.5, 1.0, -2.0]).reshape(2, 4)


def reductions(x):
    l2 = np.sqrt((x**2).sum(axis=(2, 3)))
    m = x.max(axis=(2, 3), keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=(2, 3))) + m[:, :, 0, 0]
    return l2, lse


def finite_difference(loss, args, i, h=1e-6):
    args = [a.astype(np.float64) for a in args]
    grad = np.zeros_like(args[i])
    for k in np.ndindex(args[i].shape):
        plus = [a.copy() for a in args]
        minus = [a.copy() for a in args]
        plus[i][k] += h
        minus[i][k] -= h
        grad[k] = (loss(*plus) - loss(*minus)) / (2 * h)
    return grad


def compare(name, got, want, rtol, atol):
    err = np.abs(got.astype(np.float64) - want)
    bound = atol + rtol * np.abs(want)
    ok = got.shape == want.shape and bool((err <= bound).all())
    print(f"{name}: {'ok' if ok else 'MISMATCH'} (max error {err.max():.2e})")
    return ok


def check(out, opset):
    v = {k: a.astype(np.float64) for k, a in inputs().items()}
    x, w = v["x"], v["w"]
    load = lambda n: np.load(f"{out}/{n}.npy")
    ok = True
    if opset == "18":
        cases = [("i", instance_norm, ["x", "s", "b"]), ("g", group_norm18, ["x", "gs", "gb"])]
        l2, lse = reductions(x)
        ok &= compare("l2", load("l2"), l2, RTOL, ATOL)
        ok &= compare("lse", load("lse"), lse, RTOL, ATOL)
        loss_r = lambda x: (sum(reductions(x)) * W0).sum()
        ok &= compare("dx_r", load("dx_r"), finite_difference(loss_r, [x], 0), GRAD_TOL,
                      GRAD_TOL)
    else:
        cases = [("g", group_norm21, ["x", "s", "b"])]
    for tag, fn, names in cases:
        args = [v[n] for n in names]
        ok &= compare("y" + tag, load("y" + tag), fn(*args), RTOL, ATOL)
        loss = lambda *a: (fn(*a) * w).sum()
        for i, n in enumerate(names):
            grad_name = "d" + n[-1] + "_" + tag
            ok &= compare(grad_name, load(grad_name), finite_difference(loss, args, i), GRAD_TOL,
                          GRAD_TOL)
    print("all-match" if ok else "FAILED")


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        v = inputs()
        np.savez(f"{sys.argv[2]}/in18.npz", **v)
        np.savez(f"{sys.argv[2]}/in21.npz", x=v["x"], s=v["s"], b=v["b"], w=v["w"])
    else:
        check(sys.argv[2], sys.argv[3])
