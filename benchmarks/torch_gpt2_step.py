#!/usr/bin/env python3
"""PyTorch's training step on benchmarks/gpt2_small.py's model, the baseline for precis's.

    python3 benchmarks/torch_gpt2_step.py [--layers 12] [--d 768] [--heads 12] [--seq 1024]
                                          [--vocab 50257] [--batch 8] [--steps 10] [--warmup 3]
                                          [--modes eager,compile] [--sdpa]

The same module as the ONNX generator (pre-norm blocks, fused qkv, causal softmax attention
written out as matmul / mask / softmax / matmul unless --sdpa, tanh GELU, untied head,
cross-entropy), fp32 parameters, AdamW (torch's defaults, lr 1e-4; `foreach`), a step being
zero_grad, forward and loss under torch.autocast(bfloat16), backward and optimizer.step. Modes:
`eager`, and `compile` (torch.compile of the module, default options). Each mode: --warmup
steps (compilation included), then --steps steps timed with CUDA events. One JSON object per
line: {"mode": "eager", "ms_per_step": ..., "tokens_per_s": ..., "loss": ...}.
Runs on the GPU machine (PyTorch with CUDA).
"""
import argparse
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads, seq, sdpa):
        super().__init__()
        self.heads, self.sdpa = heads, sdpa
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj_attn = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)
        self.register_buffer("mask", torch.tril(torch.ones(seq, seq, dtype=torch.bool)))

    def forward(self, x):
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            s = s.masked_fill(~self.mask[:t, :t], -1e9)
            y = s.softmax(dim=-1) @ v
        x = x + self.proj_attn(y.transpose(1, 2).reshape(b, t, d))
        return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.wte = nn.Embedding(a.vocab, a.d)
        self.wpe = nn.Embedding(a.seq, a.d)
        self.blocks = nn.ModuleList(Block(a.d, a.heads, a.seq, a.sdpa) for _ in range(a.layers))
        self.ln_f = nn.LayerNorm(a.d)
        self.head = nn.Linear(a.d, a.vocab)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))


def main():
    p = argparse.ArgumentParser()
    for name, default in [("layers", 12), ("d", 768), ("heads", 12), ("seq", 1024),
                          ("vocab", 50257), ("batch", 8), ("steps", 10), ("warmup", 3)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--modes", default="eager,compile")
    p.add_argument("--sdpa", action="store_true")
    a = p.parse_args()
    torch.manual_seed(0)
    idx = torch.randint(0, a.vocab, (a.batch, a.seq), device="cuda")
    targets = torch.randint(0, a.vocab, (a.batch, a.seq), device="cuda")
    for mode in a.modes.split(","):
        model = GPT(a).cuda()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
        run = torch.compile(model) if mode == "compile" else model

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = run(idx, targets)
            loss.backward()
            opt.step()
            return loss

        for _ in range(a.warmup):
            step()
        torch.cuda.synchronize()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(a.steps):
            loss = step()
        stop.record()
        torch.cuda.synchronize()
        ms = start.elapsed_time(stop) / a.steps
        print(json.dumps({"mode": mode, "sdpa": a.sdpa, "ms_per_step": round(ms, 3),
                          "tokens_per_s": round(a.batch * a.seq / (ms / 1e3)),
                          "loss": round(loss.item(), 4)}), flush=True)
        del model, opt, run
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
