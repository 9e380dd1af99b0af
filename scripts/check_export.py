#!/usr/bin/env python3
"""Checks a `webprune export` directory in Python: transformers loads it and gives webprune's logits;
ONNX's checker accepts the ONNX graph(s) and ONNX Runtime (Python) gives the same logits.

  python3 scripts/check_export.py --inputs CASE.json [--transformers DIR [--remote-code yes|no]]
                                  [--onnx FILE ...] [--tol 1e-4] [--tol-f16 3e-2]

CASE.json (written by the test suite, test/export/) holds the batches and webprune's logits:
  {"batches": [{"input_ids": [[...]], "attention_mask": [[...]], "token_type_ids": [[...]],
                "logits": [[...]]}, ...]}

--transformers DIR: AutoModelForSequenceClassification.from_pretrained(DIR, trust_remote_code=True)
  in eval mode; max |logits - webprune's| must be <= --tol. With --remote-code no, the model must be
  transformers' own BertForSequenceClassification (dense exports are plain BERT); with yes, the class
  from DIR/modeling_webprune_bert.py. Reports each layer's heads and FFN width as loaded.
--onnx FILE: onnx.checker.check_model(FILE, full_check=True) (the ONNX checker with shape inference;
  onnxruntime-node has no checker), then onnxruntime's logits; the tolerance is --tol for float32
  graphs and --tol-f16 times the logits' scale for float16 ones.

Needs torch and transformers for --transformers, onnx and onnxruntime for --onnx (a venv:
  python3 -m venv /tmp/wp && /tmp/wp/bin/pip install torch transformers onnx onnxruntime).
Prints one JSON object; exits 1 when a check fails.
"""
import argparse
import json
import sys

import numpy as np


def load_case(path):
    with open(path) as fh:
        case = json.load(fh)
    batches = []
    for b in case["batches"]:
        batches.append({k: np.asarray(b[k], dtype=np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")} | {"logits": np.asarray(b["logits"], dtype=np.float64)})
    return batches


def check_transformers(directory, batches, remote_code, tol):
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(directory, trust_remote_code=True).eval()
    cls = type(model)
    is_remote = cls.__name__.startswith("Webprune")
    head_size = getattr(model.config, "attention_head_size", None) or model.config.hidden_size // model.config.num_attention_heads
    layers = []
    for layer in model.bert.encoder.layer:
        query = getattr(getattr(layer.attention, "self", None), "query", None)
        dense = getattr(layer.intermediate, "dense", None)
        layers.append({"heads": 0 if query is None else query.out_features // head_size, "intermediate": 0 if dense is None else dense.out_features})
    worst = 0.0
    with torch.no_grad():
        for b in batches:
            out = model(input_ids=torch.from_numpy(b["input_ids"]), attention_mask=torch.from_numpy(b["attention_mask"]), token_type_ids=torch.from_numpy(b["token_type_ids"])).logits
            worst = max(worst, float(np.max(np.abs(out.double().numpy() - b["logits"]))))
    ok = worst <= tol and (remote_code is None or (remote_code == "yes") == is_remote)
    return {"ok": ok, "class": f"{cls.__module__}.{cls.__name__}", "remote_code": is_remote, "layers": layers, "max_abs_diff": worst, "tol": tol}


def check_onnx(path, batches, tol, tol_f16):
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path)
    f16 = any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    worst, scale = 0.0, 0.0
    for b in batches:
        (logits,) = session.run(["logits"], {k: b[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
        worst = max(worst, float(np.max(np.abs(logits.astype(np.float64) - b["logits"]))))
        scale = max(scale, float(np.max(np.abs(b["logits"]))))
    limit = tol_f16 * max(scale, 1e-30) if f16 else tol
    return {"ok": worst <= limit, "checker": "onnx.checker.check_model(full_check=True) passed", "opset": model.opset_import[0].version, "dtype": "f16" if f16 else "f32", "max_abs_diff": worst, "limit": limit}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--transformers")
    ap.add_argument("--remote-code", choices=["yes", "no"])
    ap.add_argument("--onnx", nargs="*", default=[])
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--tol-f16", type=float, default=3e-2)
    args = ap.parse_args(argv)
    batches = load_case(args.inputs)
    report = {}
    if args.transformers:
        report["transformers"] = check_transformers(args.transformers, batches, args.remote_code, args.tol)
    for path in args.onnx:
        report[path] = check_onnx(path, batches, args.tol, args.tol_f16)
    print(json.dumps(report, indent=2))
    sys.exit(0 if all(r["ok"] for r in report.values()) else 1)


if __name__ == "__main__":
    main()
