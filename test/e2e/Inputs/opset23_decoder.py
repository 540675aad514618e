"""A one-block Llama-style decoder written with the opset-23 ops, and a batch of tokens.

    python3 opset23_decoder.py OUT_DIR

OUT_DIR/decoder.onnx: forward(idx: i64[2, 6], targets: i64[2, 6]) -> loss. Token embedding,
RMSNormalization, a fused qkv projection, RotaryEmbedding on the queries and keys (3-D, 2 heads,
cos/sin caches as Constant nodes indexed by position), causal grouped-query Attention (2 query
heads on 1 key/value head), the output projection with a residual, a second RMSNormalization
and the vocabulary projection into SoftmaxCrossEntropyLoss. Weights are seeded random
initializers. OUT_DIR/data.npz: idx and targets, 4 rows (two batches of 2).
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

V, D, T, B, H, HD = 16, 16, 6, 2, 2, 8  # vocab, width, tokens, batch, query heads, head size


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)

    def weight(name, *shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inv = 1.0 / (10000 ** (np.arange(0, HD, 2) / HD))
    angles = np.outer(np.arange(T), inv).astype(np.float32)
    inits = [weight("emb", V, D), weight("wqkv", D, D + 2 * HD), weight("wo", D, D),
             weight("head", D, V), numpy_helper.from_array(np.ones(D, np.float32), "g1"),
             numpy_helper.from_array(np.ones(D, np.float32), "g2")]
    const = lambda name, arr: helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(arr, name + "_value"))
    nodes = [
        const("cos", np.cos(angles)), const("sin", np.sin(angles)),
        const("pos", np.tile(np.arange(T, dtype=np.int64), (B, 1))),
        const("split", np.array([D, HD, HD], np.int64)),
        const("flat", np.array([B * T, V], np.int64)), const("flat_t", np.array([B * T], np.int64)),
        helper.make_node("Gather", ["emb", "idx"], ["x"]),
        helper.make_node("RMSNormalization", ["x", "g1"], ["n1"], epsilon=1e-6),
        helper.make_node("MatMul", ["n1", "wqkv"], ["qkv"]),
        helper.make_node("Split", ["qkv", "split"], ["q", "k", "v"], axis=2),
        helper.make_node("RotaryEmbedding", ["q", "cos", "sin", "pos"], ["qr"], num_heads=H),
        helper.make_node("RotaryEmbedding", ["k", "cos", "sin", "pos"], ["kr"], num_heads=1),
        helper.make_node("Attention", ["qr", "kr", "v"], ["a"], is_causal=1, q_num_heads=H,
                         kv_num_heads=1),
        helper.make_node("MatMul", ["a", "wo"], ["o"]),
        helper.make_node("Add", ["x", "o"], ["r"]),
        helper.make_node("RMSNormalization", ["r", "g2"], ["n2"], epsilon=1e-6),
        helper.make_node("MatMul", ["n2", "head"], ["logits"]),
        helper.make_node("Reshape", ["logits", "flat"], ["logits2"]),
        helper.make_node("Reshape", ["targets", "flat_t"], ["targets1"]),
        helper.make_node("SoftmaxCrossEntropyLoss", ["logits2", "targets1"], ["loss"]),
    ]
    graph = helper.make_graph(
        nodes, "decoder",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [B, T]),
         helper.make_tensor_value_info("targets", TensorProto.INT64, [B, T])],
        [helper.make_tensor_value_info("loss", TensorProto.FLOAT, [])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)], ir_version=10)
    save(model, os.path.join(out, "decoder.onnx"))
    tokens = rng.integers(0, V, size=(2 * B, T + 1))
    np.savez(os.path.join(out, "data.npz"), idx=tokens[:, :-1], targets=tokens[:, 1:])


if __name__ == "__main__":
    main()
