"""BatchNorm training state and `precis export --inference`, checked against PyTorch.

A small torchvision-style CNN (conv, BatchNorm, ReLU, max pool, Dropout, linear) with an MSE loss
is exported with the TorchScript exporter in training mode (BatchNormalization with
training_mode=1, Dropout with training_mode=true), trained with `precis train` (AdamW), and
exported with `precis export --inference --outputs <logits>`. Checks:

  1. after one step the checkpoint's running mean and variance equal what PyTorch's own
     train-mode forward computes from the same initial weights (PyTorch's rule: the running
     variance takes the unbiased batch variance);
  2. after N steps the inference model, run in onnxruntime, equals PyTorch's eval-mode output of
     the checkpoint's weights and running statistics (to 1e-4).

Needs the PyTorch environment (scripts/torch-env.sh), not part of ctest:

  $(scripts/torch-env.sh | tail -1) scripts/check_batchnorm_export.py --precis build/bin/precis
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16, momentum=0.2)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(16 * 4 * 4, 5)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        return self.fc(self.drop(torch.flatten(x, 1)))


class WithLoss(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, t):
        return nn.functional.mse_loss(self.model(x), t)


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precis", default="build/bin/precis")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="precis-bn-")
    os.makedirs(work, exist_ok=True)

    torch.manual_seed(0)
    model = Net()
    with torch.no_grad():  # statistics away from their defaults, so the update shows
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
    batch = 8
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2 * batch, 3, 16, 16)).astype(np.float32) * 2 + 0.5
    t = rng.standard_normal((2 * batch, 5)).astype(np.float32)
    np.savez(f"{work}/data.npz", x=x, t=t)

    wrapped = WithLoss(model).train()
    onnx_path = f"{work}/cnn.onnx"
    torch.onnx.export(wrapped, (torch.from_numpy(x[:batch]), torch.from_numpy(t[:batch])),
                      onnx_path, dynamo=False, opset_version=17,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                      input_names=["x", "t"], output_names=["loss"])
    # Tracing ran the module once in train mode, which updated its running statistics: the
    # exported initializers are the module's state now, precis's starting point.
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    graph = onnx.load(onnx_path).graph
    bns = [n for n in graph.node if n.op_type == "BatchNormalization"]
    assert bns and all(any(a.name == "training_mode" and a.i == 1 for a in n.attribute)
                       for n in bns), "expected training-mode BatchNormalization"
    logits = [n for n in graph.node if n.op_type == "Gemm"][-1].output[0]

    ckpt = f"{work}/ckpt"
    run([args.precis, "train", onnx_path, "--data", f"{work}/data.npz", "--steps",
         str(args.steps), "--optimizer", "adamw", "--lr", "0.01", "--checkpoint-dir", ckpt,
         "--checkpoint-every", "1", "--num-threads", "2"])

    # 1. One step's statistics equal PyTorch's train-mode update from the initial weights.
    step1 = np.load(f"{ckpt}/step-00000001.npz")
    ref = Net()
    ref.load_state_dict(initial)
    ref.train()
    with torch.no_grad():
        ref(torch.from_numpy(x[:batch]))
    worst = 0.0
    for name, buf in ref.named_buffers():
        if "running" not in name:
            continue
        got, want = step1["model." + name], buf.numpy()
        err = float(np.max(np.abs(got - want) / (np.abs(want) + 1e-3)))
        worst = max(worst, err)
        # 1e-5: ONNX's biased rule would be off by (1 - momentum) / (n - 1) relative, 4e-4
        # for bn2's n = 512 elements per channel.
        if err > 1e-5:
            sys.exit(f"FAIL: {name} after one step: precis {got[:4]} vs PyTorch {want[:4]}")
    print(f"running statistics after one step match PyTorch (max rel error {worst:.2e})")

    # 2. The inference export equals PyTorch eval mode on the trained weights and statistics.
    last = f"{ckpt}/step-{args.steps:08d}.npz"
    infer = f"{work}/cnn-inference.onnx"
    run([args.precis, "export", onnx_path, "--checkpoint", last, "--inference", "--outputs",
         logits, "-o", infer])
    exported = onnx.load(infer)
    onnx.checker.check_model(exported)
    ops = {n.op_type for n in exported.graph.node}
    assert "Dropout" not in ops, ops
    assert all(len(n.output) == 1 and not any(a.name == "training_mode" and a.i for a in n.attribute)
               for n in exported.graph.node if n.op_type == "BatchNormalization")
    assert [i.name for i in exported.graph.input] == ["x"], [i.name for i in exported.graph.input]
    trained = np.load(last)
    state = {}
    for k, v in initial.items():
        key = "model." + k
        if key in trained:
            state[k] = torch.from_numpy(trained[key])
        else:
            assert k.endswith("num_batches_tracked"), f"{key} missing from the checkpoint"
            state[k] = v
    changed = [k for k in state if "running" in k and not torch.equal(state[k], initial[k])]
    assert len(changed) == 4, f"running statistics not trained: {changed}"
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        want = model(torch.from_numpy(x[:batch])).numpy()
    sess = ort.InferenceSession(infer, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x[:batch]})[0]
    err = float(np.max(np.abs(got - want)))
    print(f"inference export vs PyTorch eval: max abs error {err:.2e}")
    if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
        sys.exit("FAIL: the inference export differs from PyTorch eval mode")
    print("OK")


if __name__ == "__main__":
    main()
