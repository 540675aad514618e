#!/usr/bin/env python3
"""Writes a GPT-2-small-shaped model as textual ONNX: the graph of benchmarks/gpt2_small.py
(12 pre-norm blocks by default, each LayerNorm, fused qkv projection, causal softmax
attention, output projection, LayerNorm, 4d MLP with tanh GELU; a final LayerNorm, the
vocabulary projection and SoftmaxCrossEntropyLoss), with GPT-2 small's op count but tiny
widths, so that its training step (some 2,000+ ops) compiles in seconds. Needs only the
Python standard library (the weights are zeros: what it is for is the size of the graph).

    gpt2_onnxtxt.py out.onnxtxt [--layers 12] [--d 16] [--heads 2] [--seq 8] [--vocab 32] [--batch 2]
"""
import argparse


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--seq", type=int, default=8)
    p.add_argument("--vocab", type=int, default=32)
    p.add_argument("--batch", type=int, default=2)
    a = p.parse_args()
    B, T, D, H, V = a.batch, a.seq, a.d, a.heads, a.vocab
    hd = D // H
    inits, nodes = [], []

    def init(kind, name, shape, values):
        dims = "[" + ",".join(map(str, shape)) + "]" if shape else ""
        inits.append("%s%s %s = {%s}" % (kind, dims, name, ", ".join(map(str, values))))
        return name

    def weight(name, *shape):
        n = 1
        for s in shape:
            n *= s
        return init("float", name, list(shape), [0] * n)

    def node(op, inputs, out, attrs=""):
        nodes.append("  %s = %s %s(%s)" % (out, op, ("<" + attrs + "> ") if attrs else "", ", ".join(inputs)))
        return out

    def linear(x, prefix, n_in, n_out):
        w = weight(prefix + "_weight", n_out, n_in)
        b = weight(prefix + "_bias", n_out)
        wt = node("Transpose", [w], prefix + "_wt", "perm = [1, 0]")
        return node("Add", [node("MatMul", [x, wt], prefix + "_mm"), b], prefix + "_out")

    def layer_norm(x, prefix):
        return node("LayerNormalization", [x, weight(prefix + "_weight", D), weight(prefix + "_bias", D)],
                    prefix + "_out", "axis = -1, epsilon = 0.00001")

    positions = init("int64", "positions", [T], list(range(T)))
    x = node("Add", [node("Gather", [weight("wte_weight", V, D), "idx"], "wte"),
                     node("Gather", [weight("wpe_weight", T, D), positions], "wpe")], "embed")
    mask = init("bool", "attn_mask", [T, T], [1 if j <= i else 0 for i in range(T) for j in range(T)])
    heads_shape = init("int64", "heads_shape", [4], [B, T, H, hd])
    merged_shape = init("int64", "merged_shape", [3], [B, T, D])
    split = init("int64", "qkv_split", [3], [D, D, D])
    scale = init("float", "attn_scale", [], [1.0 / hd ** 0.5])
    neg = init("float", "attn_neg", [], [-1e9])
    for i in range(a.layers):
        pre = "b%d" % i
        h = layer_norm(x, pre + "_ln1")
        qkv = linear(h, pre + "_qkv", D, 3 * D)
        q, k, v = (pre + "_" + t for t in "qkv")
        nodes.append("  %s, %s, %s = Split <axis = -1> (%s, %s)" % (q, k, v, qkv, split))

        def heads(t, perm, tag):
            r = node("Reshape", [t, heads_shape], "%s_%s_heads" % (pre, tag))
            return node("Transpose", [r], "%s_%s_t" % (pre, tag), "perm = [%s]" % ", ".join(map(str, perm)))
        qh, kh, vh = heads(q, [0, 2, 1, 3], "q"), heads(k, [0, 2, 3, 1], "k"), heads(v, [0, 2, 1, 3], "v")
        s = node("Mul", [node("MatMul", [qh, kh], pre + "_scores"), scale], pre + "_scaled")
        s = node("Where", [mask, s, neg], pre + "_masked")
        att = node("MatMul", [node("Softmax", [s], pre + "_probs", "axis = -1"), vh], pre + "_att")
        att = node("Transpose", [att], pre + "_merge_t", "perm = [0, 2, 1, 3]")
        att = node("Reshape", [att, merged_shape], pre + "_merged")
        x = node("Add", [x, linear(att, pre + "_proj", D, D)], pre + "_res1")
        h = layer_norm(x, pre + "_ln2")
        h = node("Gelu", [linear(h, pre + "_fc", D, 4 * D)], pre + "_gelu", 'approximate = "tanh"')
        x = node("Add", [x, linear(h, pre + "_mlp", 4 * D, D)], pre + "_res2")
    logits = linear(layer_norm(x, "ln_f"), "head", D, V)
    flat = node("Reshape", [logits, init("int64", "logits_shape", [2], [B * T, V])], "flat")
    targets = node("Reshape", ["targets", init("int64", "targets_shape", [1], [B * T])], "flat_targets")
    node("SoftmaxCrossEntropyLoss", [flat, targets], "loss", 'reduction = "mean"')
    with open(a.out, "w") as f:
        f.write('<ir_version: 9, opset_import: ["" : 20]>\n')
        f.write("gpt2_small (int64[%d,%d] idx, int64[%d,%d] targets) => (float loss)\n" % (B, T, B, T))
        f.write("<" + ",\n ".join(inits) + ">\n{\n")
        f.write("\n".join(nodes) + "\n}\n")


if __name__ == "__main__":
    main()
