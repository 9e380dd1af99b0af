#!/usr/bin/env python3
"""Golden files for webprune's BERT parity test (test/models/parity.test.ts).

WHAT IT WRITES
  One directory per case under --out (default test/fixtures/bert-parity/):
    classification/  BertForSequenceClassification, 3 labels, cross-entropy loss
    regression/      BertForSequenceClassification, num_labels 1, problem_type regression (MSE loss);
                     layer_norm_eps 0.25, so that a model ignoring the configured eps fails
    mlm/             BertForMaskedLM, labels -100 at unmasked positions; tied decoder
    pruned-heads/    classification with config "pruned_heads" {"0": [1], "1": [0, 2, 3]}:
                     layers keep 3 and 1 of 4 heads
  Each directory holds
    config.json        transformers format (written by this script, identical for every implementation)
    model.safetensors  every tensor of the model's state_dict (tied MLM decoder entries included, as
                       in transformers' state_dict), F32, by the hand-written writer below
    golden.safetensors inputs:  input_ids [B,S] I32, token_type_ids [B,S] I32, attention_mask [B,S] F32,
                                labels ([B] I32 | [B] F32 | [B,S] I32 with -100)
                       outputs: last_hidden_state [B,S,H], pooler_output [B,H] (not for mlm),
                                logits ([B,C] | [B,S,V]), loss [], hidden_states.<i> [B,S,H] for
                                i = 0 (embeddings) .. L, grad.<parameter name> for every parameter
                                (named as model.named_parameters() names it; tied ones once)
                       __metadata__: implementation, versions, case, seed, loss kind
  The gradient of every attention key bias is analytically zero (adding a constant to all keys of
  a query's row leaves its softmax unchanged), so its stored value is rounding noise (~1e-8):
  comparisons measure its absolute error against the norm of the sibling key.weight gradient.
  Weights are seeded (a self-contained splitmix64 + Box-Muller generator, the same in every
  environment), N(0, 0.2^2) for weights and biases, 1 + N(0, 0.2^2) for LayerNorm weights. The
  forward pass runs in eval mode (dropout off); gradients come from loss.backward().

IMPLEMENTATIONS
  If `import transformers` works the models are transformers' BertForSequenceClassification /
  BertForMaskedLM (eager attention). Otherwise a plain-PyTorch replica defined below, written to
  mirror transformers' modeling_bert.py exactly (parameter names included), computes them. The
  implementation used is recorded in golden.safetensors' metadata. transformers 5 removed head
  pruning (config.pruned_heads is ignored there), so for pruned-heads the script then shrinks the
  attention modules itself, as transformers 4's prune_heads did (prune_linear_layer); the metadata
  says which path ran.

RUN
  Here (Debian's PyTorch, no transformers: the replica):
      /usr/bin/python3 scripts/golden/make_bert_golden.py
  With transformers (e.g. the GPU machine, transformers 5.x + torch 2.x), from the repository root:
      python3 scripts/golden/make_bert_golden.py                 # rewrites the fixtures
      python3 scripts/golden/make_bert_golden.py --verify        # recomputes, compares with the
                                                                 # committed goldens, writes nothing
  Options: --out DIR, --impl auto|transformers|replica, --cases name,name.

CHECK A CHECKPOINT WRITTEN BY WEBPRUNE (needs transformers)
      python3 scripts/golden/make_bert_golden.py --check-saved DIR
  DIR holds config.json + model.safetensors (F32, F16 or BF16) written by webprune and a
  golden.safetensors webprune wrote beside it, in the layout above: the inputs (input_ids,
  token_type_ids, attention_mask, and labels when the loss or gradients are to be checked; ids and
  labels may be stored as F32) and any of the outputs (last_hidden_state, pooler_output, logits
  ([B,C], [B,S,V] or [B*S,V]), loss, hidden_states.<i>, grad.<name>).
  The script loads DIR with transformers' from_pretrained (the class from config.json's
  "architectures"; for pruned heads under transformers 5, which cannot load them, it builds the
  model from the config, shrinks the attention modules and loads model.safetensors itself), runs
  the inputs, prints the relative error ||ours - theirs|| / ||theirs|| and the max abs error of
  every output present, and exits 1 when one exceeds 1e-4 (all weights F32) or 1e-2 (any F16/BF16
  weight), 2 when it cannot run (no transformers, malformed files), 0 otherwise.
"""

import argparse
import json
import math
import os
import struct
import sys

import torch
from torch import nn

try:
    import transformers  # noqa: F401
    from transformers import BertConfig as HFBertConfig
    from transformers import BertForMaskedLM as HFBertForMaskedLM
    from transformers import BertForSequenceClassification as HFBertForSequenceClassification

    TRANSFORMERS_ERROR = None
except Exception as err:  # ImportError, or a broken install (e.g. mismatched huggingface_hub)
    transformers = None
    TRANSFORMERS_ERROR = f"{type(err).__name__}: {err}"

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(REPO, "test", "fixtures", "bert-parity")
F32_MIN = torch.finfo(torch.float32).min
STD = 0.2
B, S = 3, 11

# ----------------------------------------------------------------------------------------------
# Deterministic random numbers (independent of torch/numpy versions)
# ----------------------------------------------------------------------------------------------


class SplitMix64:
    """splitmix64: a tiny, fully specified 64-bit generator; the same stream everywhere."""

    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self.MASK

    def next_u64(self):
        """The next 64-bit output."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def uniform(self):
        """Uniform in (0, 1), 53 random bits."""
        return ((self.next_u64() >> 11) + 0.5) / float(1 << 53)

    def normal(self):
        """Standard normal by Box-Muller (one value per call, the cosine branch)."""
        u1, u2 = self.uniform(), self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def randint(self, lo, hi):
        """Uniform integer in [lo, hi)."""
        return lo + self.next_u64() % (hi - lo)


# ----------------------------------------------------------------------------------------------
# safetensors, hand-written (no safetensors package needed)
# ----------------------------------------------------------------------------------------------

_DTYPES = {
    torch.float32: ("F32", 4),
    torch.int32: ("I32", 4),
    torch.int64: ("I64", 8),
    torch.float16: ("F16", 2),
    torch.bfloat16: ("BF16", 2),
}
_FROM_NAME = {name: (dt, size) for dt, (name, size) in _DTYPES.items()}


def _check_little_endian():
    if sys.byteorder != "little":
        raise RuntimeError("safetensors I/O here assumes a little-endian host")


def tensor_bytes(t):
    """Raw little-endian bytes of a CPU tensor (F32/I32/I64/F16/BF16), row-major."""
    t = t.detach().cpu().contiguous()
    if t.dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {t.dtype}")
    # A uint8 view of the storage: no numpy needed. (bfloat16/float16 view as int16 first.)
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    return bytes(t.reshape(-1).view(torch.uint8).tolist()) if t.numel() else b""


def write_safetensors(path, tensors, metadata=None):
    """Writes an ordered list of (name, tensor) to `path` in the safetensors format: an 8-byte
    little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}} (plus
    "__metadata__", string to string) padded with spaces to a multiple of 8, then the raw data,
    contiguous, in the given order."""
    _check_little_endian()
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors:
        if name in header:
            raise ValueError(f"{path}: duplicate tensor name {name}")
        dtype, _ = _DTYPES[t.dtype]
        data = tensor_bytes(t)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((8 - len(js) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for data in blobs:
            f.write(data)
    os.replace(tmp, path)


def read_safetensors(path):
    """Reads a safetensors file: returns (OrderedDict name -> tensor in its stored dtype, metadata,
    {name: dtype string}). Raises ValueError naming the file and tensor on malformed input."""
    _check_little_endian()
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: header is not valid JSON ({err})") from None
    metadata = header.pop("__metadata__", {}) or {}
    data = raw[8 + n :]
    out, dtypes = {}, {}
    for name, info in header.items():
        dtype = info.get("dtype")
        if dtype not in _FROM_NAME:
            raise ValueError(f'{path}: tensor "{name}": unsupported dtype {dtype}')
        tdtype, size = _FROM_NAME[dtype]
        shape = [int(d) for d in info["shape"]]
        begin, end = info["data_offsets"]
        count = math.prod(shape)
        if end - begin != count * size or end > len(data):
            raise ValueError(f'{path}: tensor "{name}": data_offsets {[begin, end]} do not fit shape {shape} {dtype}')
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=tdtype) if count else torch.empty(0, dtype=tdtype)
        out[name] = t.reshape(shape).clone()
        dtypes[name] = dtype
    return out, metadata, dtypes


# ----------------------------------------------------------------------------------------------
# Plain-PyTorch replica of transformers' BertModel / BertForSequenceClassification / BertForMaskedLM
# (modeling_bert.py, eager attention). Module attribute names equal transformers', so state_dict
# keys are identical.
# ----------------------------------------------------------------------------------------------


class ReplicaConfig:
    """The subset of transformers' BertConfig the replica reads, from a config.json dict."""

    def __init__(self, d):
        self.vocab_size = d["vocab_size"]
        self.hidden_size = d["hidden_size"]
        self.num_hidden_layers = d["num_hidden_layers"]
        self.num_attention_heads = d["num_attention_heads"]
        self.intermediate_size = d["intermediate_size"]
        self.hidden_act = d.get("hidden_act", "gelu")
        self.hidden_dropout_prob = d.get("hidden_dropout_prob", 0.1)
        self.attention_probs_dropout_prob = d.get("attention_probs_dropout_prob", 0.1)
        self.max_position_embeddings = d.get("max_position_embeddings", 512)
        self.type_vocab_size = d.get("type_vocab_size", 2)
        self.layer_norm_eps = d.get("layer_norm_eps", 1e-12)
        self.pad_token_id = d.get("pad_token_id", 0)
        self.classifier_dropout = d.get("classifier_dropout")
        self.num_labels = d.get("num_labels", len(d.get("id2label", {})) or 2)
        self.problem_type = d.get("problem_type")
        self.pruned_heads = {int(k): list(v) for k, v in (d.get("pruned_heads") or {}).items()}
        if self.hidden_act != "gelu":
            raise ValueError(f"replica: hidden_act {self.hidden_act!r} is not supported (only 'gelu')")
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("replica: only absolute position embeddings are supported")


class ReplicaEmbeddings(nn.Module):
    """word + token_type + position embeddings (added in transformers' order), LayerNorm, dropout."""

    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):
        """[B, S] ids → [B, S, H]."""
        seq = input_ids.shape[1]
        position_ids = torch.arange(seq, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class ReplicaSelfAttention(nn.Module):
    """softmax(Q·Kᵀ · head_size^-0.5 + mask)·V per head (transformers 5's eager_attention_forward;
    transformers 4 divides by sqrt(head_size) instead: the same to within one rounding)."""

    def __init__(self, c, num_heads):
        super().__init__()
        self.num_attention_heads = num_heads
        self.attention_head_size = c.hidden_size // c.num_attention_heads
        self.all_head_size = num_heads * self.attention_head_size
        self.scaling = self.attention_head_size**-0.5
        self.query = nn.Linear(c.hidden_size, self.all_head_size)
        self.key = nn.Linear(c.hidden_size, self.all_head_size)
        self.value = nn.Linear(c.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def forward(self, hidden_states, attention_mask):
        """[B, S, H] and an additive [B, 1, 1, S] mask (or None) → [B, S, heads·head_size]."""
        shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
        q = self.query(hidden_states).view(shape).transpose(1, 2)
        k = self.key(hidden_states).view(shape).transpose(1, 2)
        v = self.value(hidden_states).view(shape).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(2, 3)) * self.scaling
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.dropout(nn.functional.softmax(scores, dim=-1))
        context = torch.matmul(probs, v).transpose(1, 2).contiguous()
        return context.reshape(*hidden_states.shape[:-1], -1)


class ReplicaSelfOutput(nn.Module):
    """LayerNorm(dropout(dense(attention)) + input): post-LN residual."""

    def __init__(self, c, in_features):
        super().__init__()
        self.dense = nn.Linear(in_features, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        """Residual sub-layer output."""
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class ReplicaAttention(nn.Module):
    """BertAttention: self-attention then its output projection and residual LayerNorm."""

    def __init__(self, c, num_heads):
        super().__init__()
        self.self = ReplicaSelfAttention(c, num_heads)
        self.output = ReplicaSelfOutput(c, self.self.all_head_size)

    def forward(self, hidden_states, attention_mask):
        """[B, S, H] → [B, S, H]."""
        return self.output(self.self(hidden_states, attention_mask), hidden_states)


class ReplicaIntermediate(nn.Module):
    """gelu(dense(x)), GELU in its exact erf form (transformers' ACT2FN['gelu'])."""

    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, hidden_states):
        """[B, S, H] → [B, S, I]."""
        return nn.functional.gelu(self.dense(hidden_states))


class ReplicaOutput(ReplicaSelfOutput):
    """The FFN's down projection with its residual LayerNorm (BertOutput)."""

    def __init__(self, c):
        super().__init__(c, c.intermediate_size)


class ReplicaLayer(nn.Module):
    """One post-LN encoder layer: attention sub-layer, then feed-forward sub-layer."""

    def __init__(self, c, num_heads):
        super().__init__()
        if num_heads <= 0:
            raise ValueError("replica: a layer needs at least one attention head (as in transformers)")
        self.attention = ReplicaAttention(c, num_heads)
        self.intermediate = ReplicaIntermediate(c)
        self.output = ReplicaOutput(c)

    def forward(self, hidden_states, attention_mask):
        """[B, S, H] → [B, S, H]."""
        attention_output = self.attention(hidden_states, attention_mask)
        return self.output(self.intermediate(attention_output), attention_output)


class ReplicaEncoder(nn.Module):
    """The stack of layers; layer l has num_attention_heads - len(pruned_heads[l]) heads."""

    def __init__(self, c):
        super().__init__()
        heads = [c.num_attention_heads - len(set(c.pruned_heads.get(i, []))) for i in range(c.num_hidden_layers)]
        self.layer = nn.ModuleList([ReplicaLayer(c, h) for h in heads])

    def forward(self, hidden_states, attention_mask):
        """Returns the last layer's output and (embeddings, layer 1, ..., layer L)."""
        all_hidden = [hidden_states]
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_mask)
            all_hidden.append(hidden_states)
        return hidden_states, tuple(all_hidden)


class ReplicaPooler(nn.Module):
    """tanh(dense(h[:, 0]))."""

    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        """[B, S, H] → [B, H]."""
        return self.activation(self.dense(hidden_states[:, 0]))


class Output(dict):
    """A dict whose keys read as attributes, like transformers' ModelOutput."""

    __getattr__ = dict.get


class ReplicaBertModel(nn.Module):
    """BertModel: embeddings, encoder, optional pooler. The [B, S] 0/1 attention mask becomes the
    additive (1 - mask) · finfo(float32).min of shape [B, 1, 1, S]."""

    def __init__(self, c, add_pooling_layer=True):
        super().__init__()
        self.config = c
        self.embeddings = ReplicaEmbeddings(c)
        self.encoder = ReplicaEncoder(c)
        self.pooler = ReplicaPooler(c) if add_pooling_layer else None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False):
        """Returns Output(last_hidden_state, pooler_output, hidden_states)."""
        embedding_output = self.embeddings(input_ids, token_type_ids)
        additive = None
        if attention_mask is not None:
            mask = attention_mask[:, None, None, :].to(embedding_output.dtype)
            additive = (1.0 - mask) * F32_MIN
        sequence_output, hidden_states = self.encoder(embedding_output, additive)
        pooled = self.pooler(sequence_output) if self.pooler is not None else None
        return Output(last_hidden_state=sequence_output, pooler_output=pooled, hidden_states=hidden_states if output_hidden_states else None)


class ReplicaBertForSequenceClassification(nn.Module):
    """classifier(dropout(pooler_output)); loss as transformers: MSE on squeezed logits for one
    label (regression), cross-entropy otherwise."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        self.num_labels = c.num_labels
        self.bert = ReplicaBertModel(c)
        p = c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(c.hidden_size, c.num_labels)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, output_hidden_states=False):
        """Returns Output(loss, logits, hidden_states)."""
        out = self.bert(input_ids, attention_mask, token_type_ids, output_hidden_states)
        logits = self.classifier(self.dropout(out.pooler_output))
        loss = None
        if labels is not None:
            problem = self.config.problem_type or ("regression" if self.num_labels == 1 else "single_label_classification")
            if problem == "regression":
                loss = nn.MSELoss()(logits.squeeze(), labels.squeeze()) if self.num_labels == 1 else nn.MSELoss()(logits, labels)
            elif problem == "single_label_classification":
                loss = nn.CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
            else:
                raise ValueError(f"replica: problem_type {problem!r} is not supported")
        return Output(loss=loss, logits=logits, hidden_states=out.hidden_states)


class ReplicaPredictionHeadTransform(nn.Module):
    """LayerNorm(gelu(dense(x)))."""

    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, hidden_states):
        """[..., H] → [..., H]."""
        return self.LayerNorm(nn.functional.gelu(self.dense(hidden_states)))


class ReplicaLMPredictionHead(nn.Module):
    """decoder(transform(x)), the decoder's weight tied to the word embeddings and its bias being
    `cls.predictions.bias` (both tied by the owning model)."""

    def __init__(self, c):
        super().__init__()
        self.transform = ReplicaPredictionHeadTransform(c)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden_states):
        """[..., H] → [..., V]."""
        return self.decoder(self.transform(hidden_states))


class ReplicaOnlyMLMHead(nn.Module):
    """The `cls` module of BertForMaskedLM."""

    def __init__(self, c):
        super().__init__()
        self.predictions = ReplicaLMPredictionHead(c)

    def forward(self, sequence_output):
        """[B, S, H] → [B, S, V]."""
        return self.predictions(sequence_output)


class ReplicaBertForMaskedLM(nn.Module):
    """BertModel without pooler + MLM head; loss: cross-entropy over all positions, -100 ignored."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        self.bert = ReplicaBertModel(c, add_pooling_layer=False)
        self.cls = ReplicaOnlyMLMHead(c)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, output_hidden_states=False):
        """Returns Output(loss, logits, hidden_states)."""
        out = self.bert(input_ids, attention_mask, token_type_ids, output_hidden_states)
        logits = self.cls(out.last_hidden_state)
        loss = None
        if labels is not None:
            loss = nn.CrossEntropyLoss()(logits.view(-1, self.config.vocab_size), labels.view(-1))
        return Output(loss=loss, logits=logits, hidden_states=out.hidden_states)


# ----------------------------------------------------------------------------------------------
# Cases, parameters, inputs
# ----------------------------------------------------------------------------------------------

BASE_CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": STD,
    "intermediate_size": 37,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 40,
    "model_type": "bert",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "type_vocab_size": 2,
    "vocab_size": 99,
}


def labels_json(n):
    """id2label / label2id entries as transformers writes them (LABEL_i)."""
    return {"id2label": {str(i): f"LABEL_{i}" for i in range(n)}, "label2id": {f"LABEL_{i}": i for i in range(n)}}


def case_configs():
    """name -> (head 'classification' | 'mlm', config.json dict, seed)."""
    cls = {**BASE_CONFIG, "architectures": ["BertForSequenceClassification"], **labels_json(3), "problem_type": "single_label_classification"}
    reg = {**BASE_CONFIG, "architectures": ["BertForSequenceClassification"], **labels_json(1), "problem_type": "regression", "layer_norm_eps": 0.25}
    mlm = {**BASE_CONFIG, "architectures": ["BertForMaskedLM"], **labels_json(2)}
    pruned = {**cls, "pruned_heads": {"0": [1], "1": [0, 2, 3]}}
    return {
        "classification": ("classification", dict(sorted(cls.items())), 1001),
        "regression": ("classification", dict(sorted(reg.items())), 1002),
        "mlm": ("mlm", dict(sorted(mlm.items())), 1003),
        "pruned-heads": ("classification", dict(sorted(pruned.items())), 1004),
    }


def layer_heads(cfg):
    """Heads per layer after pruned_heads."""
    pruned = {int(k): set(v) for k, v in (cfg.get("pruned_heads") or {}).items()}
    return [cfg["num_attention_heads"] - len(pruned.get(i, ())) for i in range(cfg["num_hidden_layers"])]


def parameter_spec(cfg, head):
    """Ordered (name, shape) of every parameter, in transformers' state_dict order, without the
    tied MLM decoder entries."""
    H, V, I = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    d = H // cfg["num_attention_heads"]
    spec = [
        ("bert.embeddings.word_embeddings.weight", [V, H]),
        ("bert.embeddings.position_embeddings.weight", [cfg["max_position_embeddings"], H]),
        ("bert.embeddings.token_type_embeddings.weight", [cfg["type_vocab_size"], H]),
        ("bert.embeddings.LayerNorm.weight", [H]),
        ("bert.embeddings.LayerNorm.bias", [H]),
    ]

    def linear(name, out_f, in_f):
        spec.extend([(f"{name}.weight", [out_f, in_f]), (f"{name}.bias", [out_f])])

    def norm(name):
        spec.extend([(f"{name}.weight", [H]), (f"{name}.bias", [H])])

    for l, h in enumerate(layer_heads(cfg)):
        p = f"bert.encoder.layer.{l}"
        for part in ("query", "key", "value"):
            linear(f"{p}.attention.self.{part}", h * d, H)
        linear(f"{p}.attention.output.dense", H, h * d)
        norm(f"{p}.attention.output.LayerNorm")
        linear(f"{p}.intermediate.dense", I, H)
        linear(f"{p}.output.dense", H, I)
        norm(f"{p}.output.LayerNorm")
    if head == "classification":
        linear("bert.pooler.dense", H, H)
        linear("classifier", cfg.get("num_labels", len(cfg["id2label"])), H)
    else:
        spec.append(("cls.predictions.bias", [V]))
        linear("cls.predictions.transform.dense", H, H)
        norm("cls.predictions.transform.LayerNorm")
    return spec


TIED = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight", "cls.predictions.decoder.bias": "cls.predictions.bias"}


def random_parameters(cfg, head, rng):
    """Ordered dict name -> float32 tensor: N(0, STD²) entries, LayerNorm weights 1 + N(0, STD²)."""
    out = {}
    for name, shape in parameter_spec(cfg, head):
        n = math.prod(shape)
        vals = [rng.normal() * STD for _ in range(n)]
        t = torch.tensor(vals, dtype=torch.float32).reshape(shape)
        if "LayerNorm.weight" in name:
            t = t + 1.0
        out[name] = t
    return out


def random_inputs(cfg, head, rng):
    """Fixed [B, S] inputs: [CLS]-like id 2 first, random ids, padding (id 0, mask 0) of 0, 3 and 6
    trailing positions, a second segment (type 1) in each row, and labels."""
    V = cfg["vocab_size"]
    lengths = [S, S - 3, S - 6]
    ids = torch.zeros(B, S, dtype=torch.int64)
    types = torch.zeros(B, S, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.float32)
    for b, n in enumerate(lengths):
        ids[b, 0] = 2
        for s in range(1, n):
            ids[b, s] = rng.randint(4, V)
        mask[b, :n] = 1
        types[b, n // 2 : n] = 1
    if head == "mlm":
        labels = torch.full((B, S), -100, dtype=torch.int64)
        for b, n in enumerate(lengths):
            for s in range(1, n):
                if rng.uniform() < 0.35:
                    labels[b, s] = ids[b, s]
                    if rng.uniform() < 0.8:
                        ids[b, s] = 3  # [MASK]-like
        if (labels != -100).sum() == 0:
            raise RuntimeError("no MLM label drawn; change the seed")
    elif cfg.get("problem_type") == "regression":
        labels = torch.tensor([rng.normal() for _ in range(B)], dtype=torch.float32)
    else:
        n_labels = len(cfg["id2label"])
        labels = torch.tensor([rng.randint(0, n_labels) for _ in range(B)], dtype=torch.int64)
    return ids, types, mask, labels


# ----------------------------------------------------------------------------------------------
# Building models
# ----------------------------------------------------------------------------------------------


def hf_config(cfg):
    """transformers' BertConfig from a config.json dict, eager attention."""
    return HFBertConfig.from_dict(dict(cfg), attn_implementation="eager")


def shrink_attention(model, heads_per_layer, pruned_heads):
    """Gives each layer of a transformers model `heads_per_layer[l]` heads, keeping the heads not in
    pruned_heads[l] as transformers 4's BertAttention.prune_heads did (prune_linear_layer on
    query/key/value rows and attention.output.dense columns). No-op for layers that already have
    that many heads (transformers 4 prunes at construction). Returns the number of layers changed."""
    changed = 0
    base = model.bert
    for l, layer in enumerate(base.encoder.layer):
        att = layer.attention
        d = att.self.attention_head_size
        have = att.self.query.out_features // d
        want = heads_per_layer[l]
        if have == want:
            continue
        pruned = set(pruned_heads.get(l, pruned_heads.get(str(l), [])))
        keep = [h for h in range(have) if h not in pruned]
        if len(keep) != want or have != model.config.num_attention_heads:
            raise RuntimeError(f"layer {l}: cannot go from {have} to {want} heads with pruned_heads {sorted(pruned)}")
        index = torch.tensor([h * d + i for h in keep for i in range(d)], dtype=torch.long)

        def prune(linear, dim):
            w = linear.weight.detach().index_select(dim, index).clone()
            b = linear.bias.detach().clone() if dim == 1 else linear.bias.detach()[index].clone()
            new = nn.Linear(w.shape[1], w.shape[0], bias=True)
            with torch.no_grad():
                new.weight.copy_(w)
                new.bias.copy_(b)
            return new

        att.self.query = prune(att.self.query, 0)
        att.self.key = prune(att.self.key, 0)
        att.self.value = prune(att.self.value, 0)
        att.output.dense = prune(att.output.dense, 1)
        att.self.num_attention_heads = want
        att.self.all_head_size = want * d
        changed += 1
    return changed


def build_model(impl, cfg, head):
    """An eval-mode model of `impl` ('transformers' | 'replica') for the config dict and head, and a
    note on how pruned heads were applied."""
    note = "none"
    if impl == "replica":
        c = ReplicaConfig(cfg)
        model = ReplicaBertForMaskedLM(c) if head == "mlm" else ReplicaBertForSequenceClassification(c)
    else:
        c = hf_config(cfg)
        model = HFBertForMaskedLM(c) if head == "mlm" else HFBertForSequenceClassification(c)
        if cfg.get("pruned_heads"):
            pruned = {int(k): v for k, v in cfg["pruned_heads"].items()}
            changed = shrink_attention(model, layer_heads(cfg), pruned)
            note = "script module surgery (transformers has no head pruning)" if changed else "transformers prune_heads at construction"
    if head == "mlm":
        pred = model.cls.predictions
        if pred.decoder.weight is not model.bert.embeddings.word_embeddings.weight or pred.decoder.bias is not pred.bias:
            raise RuntimeError(f"{impl}: MLM decoder is not tied to the word embeddings / cls.predictions.bias")
    return model.eval(), note


def load_parameters(model, params, impl):
    """Copies `params` (spec names, no tied entries) into the model; fails on any mismatch."""
    state = model.state_dict()
    ignore = {k for k in state if k.endswith(("position_ids", "token_type_ids"))}
    expected = set(params) | {k for k in TIED if k in state}
    if set(state) - ignore != expected:
        raise RuntimeError(f"{impl}: state_dict names differ from the spec: extra {sorted(set(state) - ignore - expected)}, missing {sorted(expected - set(state))}")
    for name, t in params.items():
        if list(state[name].shape) != list(t.shape):
            raise RuntimeError(f"{impl}: {name} has shape {list(state[name].shape)}, spec {list(t.shape)}")
    with torch.no_grad():
        for name, t in params.items():
            model.get_parameter(name).copy_(t)


def run_case(impl, cfg, head, params, inputs, want_grads=True):
    """Forward (eval) with hidden states, loss, backward. Returns an ordered list of golden
    (name, tensor) outputs and the gradient list."""
    ids, types, mask, labels = inputs
    model, note = build_model(impl, cfg, head)
    load_parameters(model, params, impl)
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        base = model.bert(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    out = model(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels, output_hidden_states=True)
    L = cfg["num_hidden_layers"]
    if len(out.hidden_states) != L + 1:
        raise RuntimeError(f"{impl}: {len(out.hidden_states)} hidden states, expected {L + 1}")
    if not torch.equal(out.hidden_states[-1], base.last_hidden_state):
        raise RuntimeError(f"{impl}: last hidden state differs between the base model and the head model")
    outputs = [("last_hidden_state", base.last_hidden_state)]
    if head != "mlm":
        outputs.append(("pooler_output", base.pooler_output))
    outputs += [("logits", out.logits), ("loss", out.loss.reshape([]))]
    outputs += [(f"hidden_states.{i}", h) for i, h in enumerate(out.hidden_states)]
    grads = []
    if want_grads:
        out.loss.backward()
        for name in params:
            g = model.get_parameter(name).grad
            if g is None:
                raise RuntimeError(f"{impl}: no gradient for {name}")
            grads.append((f"grad.{name}", g))
    return [(n, t.detach().float()) for n, t in outputs] + [(n, t.detach().float()) for n, t in grads], note


def implementation_name(impl):
    """'transformers X.Y.Z' or 'replica'."""
    return f"transformers {transformers.__version__}" if impl == "transformers" else "replica (plain PyTorch, this script)"


def make_case(name, impl):
    """Everything one fixture directory holds: (config dict, model tensors, golden tensors, metadata)."""
    head, cfg, seed = case_configs()[name]
    rng = SplitMix64(seed)
    params = random_parameters(cfg, head, rng)
    ids, types, mask, labels = random_inputs(cfg, head, rng)
    results, note = run_case(impl, cfg, head, params, (ids, types, mask, labels))
    model_tensors = list(params.items())
    if head == "mlm":
        model_tensors += [(k, params[v]) for k, v in TIED.items()]
    golden = [
        ("input_ids", ids.to(torch.int32)),
        ("token_type_ids", types.to(torch.int32)),
        ("attention_mask", mask),
        ("labels", labels if labels.dtype == torch.float32 else labels.to(torch.int32)),
    ] + results
    loss_kind = "mlm_cross_entropy" if head == "mlm" else ("mse" if cfg.get("problem_type") == "regression" else "cross_entropy")
    metadata = {
        "case": name,
        "implementation": implementation_name(impl),
        "pruned_heads_applied_by": note,
        "torch": torch.__version__,
        "transformers": transformers.__version__ if transformers is not None else "not installed",
        "seed": str(seed),
        "loss": loss_kind,
        "mode": "eval (dropout off); gradients of loss.backward()",
        "script": "scripts/golden/make_bert_golden.py",
    }
    return cfg, model_tensors, golden, metadata


def rel_err(ours, ref):
    """||ours - ref|| / ||ref|| in float64 (absolute norm when ref is 0)."""
    a, r = ours.double().reshape(-1), ref.double().reshape(-1)
    den = r.norm().item()
    num = (a - r).norm().item()
    return num / den if den > 0 else num


def analytically_zero(name):
    """Whether a golden tensor is analytically zero: the gradient of an attention key bias (adding
    a constant to every key of a query's row leaves its softmax unchanged), so that only rounding
    noise (~1e-8) is stored and a relative error would be meaningless."""
    return name.startswith("grad.") and name.endswith(".attention.self.key.bias")


def compare(name, ours, ref, refs):
    """Error of `ours` against `ref`: relative, except for analytically zero tensors (see
    analytically_zero), whose absolute norm is divided by the norm of the sibling key.weight
    gradient in `refs` (their natural scale)."""
    if analytically_zero(name):
        scale = refs[name[: -len("bias")] + "weight"].double().norm().item()
        return (ours.double() - ref.double()).norm().item() / scale
    return rel_err(ours, ref)


def choose_impl(requested):
    """The implementation to use for --impl."""
    if requested == "replica":
        return "replica"
    if transformers is None:
        if requested == "transformers":
            sys.exit(f"error: --impl transformers, but transformers cannot be imported ({TRANSFORMERS_ERROR})")
        return "replica"
    return "transformers"


def generate(args):
    """Writes (or, with --verify, recomputes and compares) every selected fixture."""
    impl = choose_impl(args.impl)
    names = args.cases.split(",") if args.cases else list(case_configs())
    worst = 0.0
    for name in names:
        if name not in case_configs():
            sys.exit(f"error: unknown case {name!r} (known: {', '.join(case_configs())})")
        cfg, model_tensors, golden, metadata = make_case(name, impl)
        d = os.path.join(args.out, name)
        if args.verify:
            path = os.path.join(d, "golden.safetensors")
            saved, saved_meta, _ = read_safetensors(path)
            print(f"{name}: {metadata['implementation']} vs saved {saved_meta.get('implementation')}")
            for n, t in golden:
                if n not in saved:
                    sys.exit(f"error: {path}: tensor {n} missing")
                e = compare(n, t, saved[n], saved) if t.is_floating_point() else float(not torch.equal(t, saved[n]))
                worst = max(worst, e)
                print(f"  {n:60s} rel err {e:.2e}")
            continue
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(cfg, indent=2) + "\n")
        write_safetensors(os.path.join(d, "model.safetensors"), model_tensors, {"format": "pt"})
        write_safetensors(os.path.join(d, "golden.safetensors"), golden, metadata)
        print(f"wrote {d} ({metadata['implementation']}, loss {golden[[n for n, _ in golden].index('loss')][1].item():.6f})")
    if args.verify:
        print(f"worst relative error {worst:.2e}")
        if worst > 1e-5:
            sys.exit(1)


# ----------------------------------------------------------------------------------------------
# --check-saved: a webprune checkpoint against transformers
# ----------------------------------------------------------------------------------------------


def check_saved(directory):
    """Loads a webprune checkpoint directory into transformers, runs the inputs of the
    golden.safetensors beside it and compares every output present (see the module docstring).
    Returns the process exit code."""
    if transformers is None:
        print(
            f"error: --check-saved needs the transformers package, which cannot be imported here ({TRANSFORMERS_ERROR}).\n"
            "Run it where transformers is installed (e.g. the GPU machine: python3 scripts/golden/make_bert_golden.py --check-saved DIR).",
            file=sys.stderr,
        )
        return 2
    try:
        cfg_path = os.path.join(directory, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        _, _, weight_dtypes = read_safetensors(os.path.join(directory, "model.safetensors"))
        golden, _, _ = read_safetensors(os.path.join(directory, "golden.safetensors"))
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    arch = (cfg.get("architectures") or [None])[0]
    if arch is None:
        arch = "BertForMaskedLM" if "logits" in golden and golden["logits"].dim() == 3 else "BertForSequenceClassification"
    classes = {"BertForSequenceClassification": HFBertForSequenceClassification, "BertForMaskedLM": HFBertForMaskedLM}
    if arch not in classes:
        print(f"error: {cfg_path}: architectures {arch!r} is not supported (BertForSequenceClassification or BertForMaskedLM)", file=sys.stderr)
        return 2
    for i, layer in enumerate(cfg.get("webprune_layers") or []):
        if layer.get("intermediate_size") != cfg["intermediate_size"] or layer.get("num_attention_heads", 1) == 0:
            print(f"error: {cfg_path}: webprune_layers[{i}] = {layer}: transformers' BertModel cannot represent a pruned FFN width or a layer without attention", file=sys.stderr)
            return 2
    for k in ("input_ids", "attention_mask"):
        if k not in golden:
            print(f"error: {directory}/golden.safetensors: input tensor {k} missing", file=sys.stderr)
            return 2
    half = any(dt in ("F16", "BF16") for dt in weight_dtypes.values())
    tol = 1e-2 if half else 1e-4
    cls = classes[arch]
    pruned = cfg.get("pruned_heads") or {}
    heads = layer_heads(cfg)
    can_prune = hasattr(transformers.PreTrainedModel, "prune_heads")
    if pruned and not can_prune:
        # transformers 5 ignores pruned_heads and from_pretrained would fail on the shapes.
        print(f"note: transformers {transformers.__version__} has no head pruning: building from the config and shrinking attention modules")
        model = cls(hf_config(cfg))
        shrink_attention(model, heads, {int(k): v for k, v in pruned.items()})
        weights, _, _ = read_safetensors(os.path.join(directory, "model.safetensors"))
        weights = {k: v.float() for k, v in weights.items()}
        result = model.load_state_dict(weights, strict=False)
        missing = [k for k in result.missing_keys if k not in TIED and not k.endswith(("position_ids", "token_type_ids"))]
        if missing:
            print(f"error: {directory}/model.safetensors lacks {missing}", file=sys.stderr)
            return 2
        if result.unexpected_keys:
            print(f"note: ignored tensors not in {arch}: {result.unexpected_keys}")
        if arch == "BertForMaskedLM":
            model.tie_weights()
    else:
        model, info = cls.from_pretrained(directory, attn_implementation="eager", output_loading_info=True)
        missing = [k for k in info.get("missing_keys", []) if k not in TIED]
        if missing:
            print(f"error: {directory}: from_pretrained reports missing weights {missing}", file=sys.stderr)
            return 2
        if info.get("unexpected_keys"):
            print(f"note: ignored tensors not in {arch}: {sorted(info['unexpected_keys'])}")
        if info.get("mismatched_keys"):
            print(f"error: {directory}: shape mismatches {info['mismatched_keys']}", file=sys.stderr)
            return 2
    model = model.float().eval()
    for l, layer in enumerate(model.bert.encoder.layer):
        got = layer.attention.self.query.out_features // layer.attention.self.attention_head_size
        if got != heads[l]:
            print(f"error: layer {l} has {got} heads in transformers, the config gives {heads[l]}", file=sys.stderr)
            return 2

    ids = golden["input_ids"].long()
    mask = golden["attention_mask"].float()
    types = golden["token_type_ids"].long() if "token_type_ids" in golden else None
    labels = golden.get("labels")
    if labels is not None:
        labels = labels.float() if cfg.get("problem_type") == "regression" else labels.long()
    want_grads = any(k.startswith("grad.") for k in golden)
    if (want_grads or "loss" in golden) and labels is None:
        print("error: golden.safetensors has loss/gradients but no labels", file=sys.stderr)
        return 2
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        base = model.bert(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    out = model(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels, output_hidden_states=True)
    ours = {"last_hidden_state": base.last_hidden_state, "logits": out.logits}
    if base.pooler_output is not None:
        ours["pooler_output"] = base.pooler_output
    if out.loss is not None:
        ours["loss"] = out.loss.reshape([])
    for i, h in enumerate(out.hidden_states):
        ours[f"hidden_states.{i}"] = h
    if want_grads:
        out.loss.backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                ours[f"grad.{name}"] = p.grad
    inputs = {"input_ids", "token_type_ids", "attention_mask", "labels"}
    print(f"{directory}: transformers {transformers.__version__}, torch {torch.__version__}, {arch}, weights {'F16/BF16' if half else 'F32'}, tolerance {tol:g}")
    failed, compared = [], 0
    for name, theirs in golden.items():
        if name in inputs:
            continue
        if name not in ours:
            print(f"  {name:60s} not computed by transformers (unknown name)")
            failed.append(name)
            continue
        mine = ours[name].detach().float()
        if mine.numel() != theirs.numel():
            print(f"  {name:60s} size {list(theirs.shape)} vs transformers {list(mine.shape)}")
            failed.append(name)
            continue
        t = theirs.float().reshape(mine.shape)
        # webprune's output is `theirs`; the reference is transformers (`mine`).
        e = compare(name, t, mine, ours)
        bad = not (e <= tol) or not torch.isfinite(t).all()
        compared += 1
        print(f"  {name:60s} rel err {e:.2e}  max abs {(t - mine).abs().max().item():.2e}{'  FAIL' if bad else ''}")
        if bad:
            failed.append(name)
    if compared == 0:
        print("error: golden.safetensors has no outputs to compare", file=sys.stderr)
        return 2
    print(f"{'FAILED: ' + ', '.join(failed) if failed else 'OK'} ({compared} outputs compared)")
    return 1 if failed else 0


def main():
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="fixture root (default test/fixtures/bert-parity)")
    parser.add_argument("--impl", choices=["auto", "transformers", "replica"], default="auto", help="auto: transformers when importable")
    parser.add_argument("--cases", help="comma-separated subset of " + ",".join(case_configs()))
    parser.add_argument("--verify", action="store_true", help="recompute and compare with the saved goldens; write nothing")
    parser.add_argument("--check-saved", metavar="DIR", help="compare a webprune checkpoint + golden in DIR with transformers")
    args = parser.parse_args()
    torch.manual_seed(0)  # only module construction draws from torch's RNG; all values are overwritten
    if args.check_saved:
        sys.exit(check_saved(args.check_saved))
    generate(args)


if __name__ == "__main__":
    main()
