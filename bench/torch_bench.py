#!/usr/bin/env python3
"""PyTorch reference timings for webprune's benchmarks (bench/kernels.ts, bench/speedup.ts).

Reads a spec of cases (written by the TypeScript bench, or by hand) and times each one in eager
PyTorch with the same method as the TypeScript side: warm-up runs, then timed runs separated by a
wait for the device; inputs random and rotated among up to 8 copies when a working set is small.

  python3 bench/torch_bench.py --spec SPEC.json [--out OUT.json] [--device auto|cpu|cuda]
                               [--warmup N] [--repeats N]

SPEC.json is {"warmup": n, "repeats": n, "cases": [{"name": str, "torch": {"op": ..., ...}}]}; a
report of `webprune bench kernels|speedup --json` is accepted as a spec as it stands (its rows
carry the same "torch" descriptors). Ops:

  linear      {m, n, k}                 x[m,k] @ W[n,k]^T + b (nn.functional.linear)
  bmm         {batch: [..], m, n, k, trans_b}   batched matmul (QK^T with trans_b, PV without)
  softmax     {shape, mask_shape}       softmax(x + mask) over the last axis
  layer_norm  {rows, cols, eps}
  gelu        {shape}                   erf form
  copy        {bytes}                   device-to-device copy
  bert_forward     {config, batch, seq} inference forward of a sequence classifier (no grad)
  bert_train_step  {config, batch, seq} forward + backward + AdamW step, dropout on

`config` is a transformers BERT config.json object, with webprune's extension keys for compacted
models: "webprune_layers" [{num_attention_heads, intermediate_size}] per layer (0 = sub-layer
removed), "attention_head_size", "webprune_pooler_size". The model is built here in plain PyTorch
(same computation as transformers' eager BertForSequenceClassification), so transformers is not
needed and compacted structures need no custom code.

Round-robin: with "round_robin": true in the spec (bench speedup sets it) and only bert_forward
cases, every model is built first and the models are then run in turn, warm-up runs and timed runs
alike, as the TypeScript bench times its models: load that drifts on a shared machine then affects
every model alike instead of whichever one was running.

Precision: fp32 with TF32 disabled (torch.backends.cuda.matmul.allow_tf32 = False and the cuDNN
flag likewise); on CUDA also fp16 (half tensors for the ops and for bert_forward, autocast for
bert_train_step). On CUDA bert_train_step also reports torch.cuda.max_memory_allocated of the fp32
step (parameters, gradients, AdamW state and activations).

Output JSON: {"torch_version", "device", "device_name", "tf32": false, "warmup", "repeats",
"results": {name: {"fp32": {"median","min","max"} (ms), "fp16": {...} | null,
"peak_memory_bytes": int | null}}}.
"""
import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROTATION_BYTES = 128 * 2**20
MAX_COPIES = 8


def rotation_copies(working_set_bytes):
    return max(1, min(MAX_COPIES, math.ceil(ROTATION_BYTES / max(1, working_set_bytes))))


def summarize(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def rand(shape, device, dtype):
    # Uniform in [-1, 1); never exactly zero.
    x = torch.rand(shape, device=device, dtype=torch.float32) * 2 - 1
    x[x == 0] = 0.5
    return x.to(dtype)


class Timer:
    def __init__(self, device, warmup, repeats):
        self.device = device
        self.warmup = warmup
        self.repeats = repeats

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def time(self, run):
        """Runs run(i) warmup + repeats times; returns the stats of the timed runs in ms."""
        samples = []
        self.sync()
        for i in range(self.warmup + self.repeats):
            if self.device.type == "cuda":
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                run(i)
                end.record()
                torch.cuda.synchronize()
                ms = start.elapsed_time(end)
            else:
                t0 = time.perf_counter()
                run(i)
                ms = (time.perf_counter() - t0) * 1e3
            if i >= self.warmup:
                samples.append(ms)
        return summarize(samples)


# ---------------------------------------------------------------------------------------------
# BERT with a per-layer structure


def structure_of(config):
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_size = config.get("attention_head_size") or hidden // heads
    layers = config.get("webprune_layers")
    if layers is None:
        layers = [{"num_attention_heads": heads, "intermediate_size": config["intermediate_size"]}] * config["num_hidden_layers"]
    return hidden, head_size, [(l["num_attention_heads"], l["intermediate_size"]) for l in layers]


class Layer(nn.Module):
    def __init__(self, hidden, heads, head_size, intermediate, eps, p_hidden, p_attn):
        super().__init__()
        self.heads, self.d, self.inter = heads, head_size, intermediate
        self.p_hidden, self.p_attn = p_hidden, p_attn
        a = heads * head_size
        if heads > 0:
            self.query = nn.Linear(hidden, a)
            self.key = nn.Linear(hidden, a)
            self.value = nn.Linear(hidden, a)
            self.attn_out = nn.Linear(a, hidden)
            self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        if intermediate > 0:
            self.fc1 = nn.Linear(hidden, intermediate)
            self.fc2 = nn.Linear(intermediate, hidden)
            self.out_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, mask_add):
        b, s, _ = x.shape
        if self.heads > 0:
            split = lambda t: t.view(b, s, self.heads, self.d).transpose(1, 2)
            q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d) + mask_add
            probs = F.dropout(F.softmax(scores, dim=-1), self.p_attn, self.training)
            ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, self.heads * self.d)
            x = self.attn_norm(F.dropout(self.attn_out(ctx), self.p_hidden, self.training) + x)
        if self.inter > 0:
            h = self.fc2(F.gelu(self.fc1(x)))
            x = self.out_norm(F.dropout(h, self.p_hidden, self.training) + x)
        return x


class Bert(nn.Module):
    """BertForSequenceClassification's computation with per-layer heads and FFN widths."""

    def __init__(self, config):
        super().__init__()
        hidden, head_size, layers = structure_of(config)
        eps = config.get("layer_norm_eps", 1e-12)
        self.p_hidden = config.get("hidden_dropout_prob", 0.1)
        p_attn = config.get("attention_probs_dropout_prob", 0.1)
        pooler = config.get("webprune_pooler_size") or hidden
        self.word = nn.Embedding(config["vocab_size"], hidden)
        self.position = nn.Embedding(config.get("max_position_embeddings", 512), hidden)
        self.token_type = nn.Embedding(config.get("type_vocab_size", 2), hidden)
        self.emb_norm = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(Layer(hidden, h, head_size, i, eps, self.p_hidden, p_attn) for h, i in layers)
        self.pooler = nn.Linear(hidden, pooler)
        self.classifier = nn.Linear(pooler, config.get("num_labels", 2))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=config.get("initializer_range", 0.02))
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids, types, mask):
        b, s = ids.shape
        pos = torch.arange(s, device=ids.device)
        x = self.word(ids) + self.position(pos)[None] + self.token_type(types)
        x = F.dropout(self.emb_norm(x), self.p_hidden, self.training)
        mask_add = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, mask_add)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return self.classifier(F.dropout(pooled, self.p_hidden, self.training))


def bert_inputs(config, batch, seq, device, copies):
    gen = torch.Generator().manual_seed(0)
    sets = []
    for _ in range(copies):
        ids = torch.randint(1, config["vocab_size"], (batch, seq), generator=gen)
        lengths = torch.randint(seq // 2, seq + 1, (batch,), generator=gen)
        mask = (torch.arange(seq)[None, :] < lengths[:, None]).to(torch.float32)
        labels = torch.randint(0, config.get("num_labels", 2), (batch,), generator=gen)
        sets.append(tuple(t.to(device) for t in (ids, torch.zeros_like(ids), mask, labels)))
    return sets


# ---------------------------------------------------------------------------------------------
# Cases


def time_case(op, timer, device, dtype):
    """Times one case at one precision; returns (stats, peak_memory_bytes or None)."""
    kind = op["op"]
    f = 2 if dtype == torch.float16 else 4
    if kind == "linear":
        m, n, k = op["m"], op["n"], op["k"]
        c = rotation_copies(f * (m * k + n * k + n + m * n))
        sets = [(rand((m, k), device, dtype), rand((n, k), device, dtype), rand((n,), device, dtype)) for _ in range(c)]
        return timer.time(lambda i: F.linear(*sets[i % c])), None
    if kind == "bmm":
        bt, m, n, k = op["batch"], op["m"], op["n"], op["k"]
        nb = math.prod(bt)
        c = rotation_copies(f * nb * (m * k + k * n + m * n))
        bshape = (*bt, n, k) if op["trans_b"] else (*bt, k, n)
        sets = [(rand((*bt, m, k), device, dtype), rand(bshape, device, dtype)) for _ in range(c)]
        if op["trans_b"]:
            return timer.time(lambda i: torch.matmul(sets[i % c][0], sets[i % c][1].transpose(-1, -2))), None
        return timer.time(lambda i: torch.matmul(*sets[i % c])), None
    if kind == "softmax":
        shape, mshape = op["shape"], op["mask_shape"]
        c = rotation_copies(f * 2 * math.prod(shape))
        sets = [(rand(shape, device, dtype), rand(mshape, device, dtype)) for _ in range(c)]
        return timer.time(lambda i: F.softmax(sets[i % c][0] + sets[i % c][1], dim=-1)), None
    if kind == "layer_norm":
        rows, cols = op["rows"], op["cols"]
        c = rotation_copies(f * 2 * rows * cols)
        sets = [(rand((rows, cols), device, dtype), rand((cols,), device, dtype), rand((cols,), device, dtype)) for _ in range(c)]
        return timer.time(lambda i: F.layer_norm(sets[i % c][0], (cols,), sets[i % c][1], sets[i % c][2], op["eps"])), None
    if kind == "gelu":
        shape = op["shape"]
        c = rotation_copies(f * 2 * math.prod(shape))
        sets = [rand(shape, device, dtype) for _ in range(c)]
        return timer.time(lambda i: F.gelu(sets[i % c])), None
    if kind == "attention":
        # The active heads only, in the [B, S, h·d] layout the projections produce.
        b, h, s, d = op["batch"], op["heads"], op["seq"], op["dim"]
        c = rotation_copies(f * 4 * b * s * h * d)
        sets = [tuple(rand((b, s, h * d), device, dtype) for _ in range(3)) for _ in range(c)]
        mask = torch.zeros((b, 1, 1, s), device=device, dtype=dtype)

        def attend(i):
            q, k, v = (t.view(b, s, h, d).transpose(1, 2) for t in sets[i % c])
            if hasattr(F, "scaled_dot_product_attention"):
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            else:  # torch < 2.0
                out = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + mask, dim=-1) @ v
            return out.transpose(1, 2).reshape(b, s, h * d)

        return timer.time(attend), None
    if kind == "ffn":
        # The compacted FFN: a dense FFN of the active width n.
        m, h, n = op["m"], op["h"], op["n"]
        c = rotation_copies(f * (2 * m * h + 2 * n * h))
        sets = [(rand((m, h), device, dtype), rand((n, h), device, dtype), rand((n,), device, dtype), rand((h, n), device, dtype), rand((h,), device, dtype)) for _ in range(c)]

        def ffn(i):
            x, w1, b1, w2, b2 = sets[i % c]
            return F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)

        return timer.time(ffn), None
    if kind == "copy":
        n = op["bytes"] // f
        src, dst = rand((n,), device, dtype), torch.empty(n, device=device, dtype=dtype)
        return timer.time(lambda i: dst.copy_(src)), None
    if kind == "bert_forward":
        model = Bert(op["config"]).to(device).eval()
        if dtype == torch.float16:
            model = model.half()
        sets = bert_inputs(op["config"], op["batch"], op["seq"], device, 4)

        def run(i):
            ids, types, mask, _ = sets[i % len(sets)]
            with torch.no_grad():
                model(ids, types, mask)

        stats = timer.time(run)
        del model
        return stats, None
    if kind == "bert_train_step":
        model = Bert(op["config"]).to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
        sets = bert_inputs(op["config"], op["batch"], op["seq"], device, 4)
        use_amp = dtype == torch.float16

        def run(i):
            ids, types, mask, labels = sets[i % len(sets)]
            with torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext():
                loss = F.cross_entropy(model(ids, types, mask), labels)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        peak = None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        stats = timer.time(run)
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated()
        del model, opt
        return stats, peak
    raise ValueError(f"unknown op {kind!r}")


def time_forwards_round_robin(cases, timer, device, dtype):
    """bert_forward cases timed in turn (see the module docstring); returns their stats in order."""
    runs = []
    for case in cases:
        op = case["torch"]
        model = Bert(op["config"]).to(device).eval()
        if dtype == torch.float16:
            model = model.half()
        runs.append((model, bert_inputs(op["config"], op["batch"], op["seq"], device, 4)))
    samples = [[] for _ in runs]
    for i in range(timer.warmup + timer.repeats):
        for k, (model, sets) in enumerate(runs):
            ids, types, mask, _ = sets[i % len(sets)]
            timer.sync()
            t0 = time.perf_counter()
            with torch.no_grad():
                model(ids, types, mask)
            timer.sync()
            if i >= timer.warmup:
                samples[k].append((time.perf_counter() - t0) * 1e3)
    return [summarize(x) for x in samples]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", required=True, help="cases JSON (or a webprune bench --json report)")
    ap.add_argument("--out", help="write the results JSON here (default stdout)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--warmup", type=int, help="override the spec's warm-up runs")
    ap.add_argument("--repeats", type=int, help="override the spec's timed runs")
    ap.add_argument("--threads", type=int, help="CPU threads (default: all cores, as lavapipe uses them)")
    args = ap.parse_args(argv)

    with open(args.spec) as fh:
        spec = json.load(fh)
    cases = spec.get("cases")
    if cases is None:  # a bench report: its rows carry the torch descriptors
        cases = [r for r in spec.get("rows", []) if r.get("torch")]
    if not cases:
        sys.exit(f"{args.spec}: no cases (expected 'cases' or report 'rows' with 'torch' descriptors)")
    warmup = args.warmup if args.warmup is not None else spec.get("warmup", 1)
    repeats = args.repeats if args.repeats is not None else spec.get("repeats", 5)

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch.cuda.is_available() is False")
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    timer = Timer(device, warmup, repeats)
    precisions = [("fp32", torch.float32)] + ([("fp16", torch.float16)] if device.type == "cuda" else [])

    results = {}
    if spec.get("round_robin") and all(c["torch"]["op"] == "bert_forward" for c in cases):
        by_precision = {label: time_forwards_round_robin(cases, timer, device, dtype) for label, dtype in precisions}
        for k, case in enumerate(cases):
            results[case["name"]] = {"fp32": by_precision["fp32"][k], "fp16": by_precision["fp16"][k] if "fp16" in by_precision else None, "peak_memory_bytes": None}
            print(f"torch: {case['name']}: {results[case['name']]['fp32']['median']:.3f} ms (fp32, round-robin)", file=sys.stderr)
        cases = []
    for case in cases:
        entry = {"fp32": None, "fp16": None, "peak_memory_bytes": None}
        for label, dtype in precisions:
            stats, peak = time_case(case["torch"], timer, device, dtype)
            entry[label] = stats
            if label == "fp32" and peak is not None:
                entry["peak_memory_bytes"] = peak
            if device.type == "cuda":
                torch.cuda.empty_cache()
        results[case["name"]] = entry
        print(f"torch: {case['name']}: {entry['fp32']['median']:.3f} ms (fp32)", file=sys.stderr)

    out = {
        "torch_version": torch.__version__,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "tf32": False,
        "warmup": warmup,
        "repeats": repeats,
        "results": results,
    }
    text = json.dumps(out, indent=2)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
