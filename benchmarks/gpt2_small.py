#!/usr/bin/env python3
"""A GPT-2-small-shaped transformer with its loss inside, as ONNX, for the training-step benchmark.

    python3 benchmarks/gpt2_small.py out.onnx [--layers 12] [--d 768] [--heads 12] [--seq 1024]
                                              [--vocab 50257] [--batch 8] [--data data.npz]

forward(idx: i64[B, T], targets: i64[B, T]) -> loss: the structure of examples/gpt (what
torch.onnx exports for benchmarks/torch_gpt2_step.py's model): token and position embeddings,
pre-norm blocks (LayerNorm, fused qkv projection, causal softmax attention, output projection,
LayerNorm, 4d MLP with tanh GELU), a final LayerNorm, an untied vocabulary projection and
SoftmaxCrossEntropyLoss. Weights are [out, in] and transposed in the graph, as exported; the
causal mask is one bool initializer shared by the layers. Every float initializer is zeros:
compile with `precis compile --no-weights`, which replaces them by seeded values at load.
`--data` also writes random tokens (idx, targets: two batches of rows, seed 0) for
`precis train`. Needs numpy and onnx (opset 20, for Gelu's tanh form).
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--data")
    a = p.parse_args()
    B, T, D, H, V = a.batch, a.seq, a.d, a.heads, a.vocab
    hd = D // H
    inits, nodes = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(array, name))
        return name

    def weight(name, *shape):
        return init(name, np.zeros(shape, np.float32))

    def const(name, values, dtype=np.int64):
        return init(name, np.array(values, dtype))

    def node(op, inputs, name, **attrs):
        out = name + "_out"
        nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def linear(x, prefix, n_in, n_out):
        w = weight(prefix + ".weight", n_out, n_in)
        b = weight(prefix + ".bias", n_out)
        wt = node("Transpose", [w], prefix + "/Transpose", perm=[1, 0])
        return node("Add", [node("MatMul", [x, wt], prefix + "/MatMul"), b], prefix + "/Add")

    def layer_norm(x, prefix):
        return node("LayerNormalization", [x, weight(prefix + ".weight", D),
                                           weight(prefix + ".bias", D)],
                    prefix + "/LayerNormalization", axis=-1, epsilon=1e-5)

    positions = const("positions", np.arange(T))
    x = node("Add", [node("Gather", [weight("wte.weight", V, D), "idx"], "wte/Gather"),
                     node("Gather", [weight("wpe.weight", T, D), positions], "wpe/Gather")],
             "embed/Add")
    mask = init("attn.mask", np.tril(np.ones((T, T), bool)))
    heads_shape = const("heads_shape", [B, T, H, hd])
    merged_shape = const("merged_shape", [B, T, D])
    split = const("qkv_split", [D, D, D])
    scale = init("attn.scale", np.array(1.0 / np.sqrt(hd), np.float32))
    neg = init("attn.neg", np.array(-1e9, np.float32))
    for i in range(a.layers):
        pre = f"blocks.{i}"
        h = layer_norm(x, pre + ".ln1")
        qkv = linear(h, pre + ".attn.qkv", D, 3 * D)
        q, k, v = (f"{pre}/qkv_{j}" for j in "qkv")
        nodes.append(helper.make_node("Split", [qkv, split], [q, k, v], name=pre + "/Split", axis=-1))
        def heads(t, perm, tag):
            r = node("Reshape", [t, heads_shape], f"{pre}/{tag}/Reshape")
            return node("Transpose", [r], f"{pre}/{tag}/Transpose", perm=perm)
        qh = heads(q, [0, 2, 1, 3], "q")
        kh = heads(k, [0, 2, 3, 1], "k")
        vh = heads(v, [0, 2, 1, 3], "v")
        s = node("Mul", [node("MatMul", [qh, kh], pre + "/scores"), scale], pre + "/scale")
        s = node("Where", [mask, s, neg], pre + "/mask")
        att = node("MatMul", [node("Softmax", [s], pre + "/Softmax", axis=-1), vh], pre + "/att")
        att = node("Transpose", [att], pre + "/merge/Transpose", perm=[0, 2, 1, 3])
        att = node("Reshape", [att, merged_shape], pre + "/merge/Reshape")
        x = node("Add", [x, linear(att, pre + ".attn.proj", D, D)], pre + "/res1")
        h = layer_norm(x, pre + ".ln2")
        h = node("Gelu", [linear(h, pre + ".fc", D, 4 * D)], pre + "/Gelu", approximate="tanh")
        x = node("Add", [x, linear(h, pre + ".proj", 4 * D, D)], pre + "/res2")
    logits = linear(layer_norm(x, "ln_f"), "head", D, V)
    flat = node("Reshape", [logits, const("logits_shape", [B * T, V])], "head/Reshape")
    targets = node("Reshape", ["targets", const("targets_shape", [B * T])], "targets/Reshape")
    nodes.append(helper.make_node("SoftmaxCrossEntropyLoss", [flat, targets], ["loss"],
                                  name="loss", reduction="mean"))
    graph = helper.make_graph(
        nodes, "gpt2_small",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [B, T]),
         helper.make_tensor_value_info("targets", TensorProto.INT64, [B, T])],
        [helper.make_tensor_value_info("loss", TensorProto.FLOAT, [])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.save(model, a.out)
    if a.data:
        rng = np.random.default_rng(0)
        tokens = rng.integers(0, V, (2 * B, T + 1))
        np.savez(a.data, idx=tokens[:, :-1], targets=tokens[:, 1:])


if __name__ == "__main__":
    main()
