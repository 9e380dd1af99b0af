# Written by `webprune export --format transformers` beside a pruned model's weights.
#
#   from transformers import AutoModelForSequenceClassification
#   model = AutoModelForSequenceClassification.from_pretrained(DIR, trust_remote_code=True)
#
# BERT (Devlin et al. 2019) whose layers each have their own structure, as CoFi's structured pruning
# (Xia, Zhong, Chen 2022) leaves them: config.webprune_layers[i] = {num_attention_heads,
# intermediate_size}; 0 heads means the layer has no attention sub-layer, 0 units no feed-forward
# sub-layer. Heads have size config.attention_head_size (the hidden size need not be a multiple of
# the head count after hidden dimensions are pruned), and the pooler keeps its output width
# config.webprune_pooler_size. Rank-pruned Linears (webprune_layers[i].ranks = {query, key, value,
# attention_output, intermediate, output: r}) are stored factorised, W = Q·P (weight_q [out, r],
# weight_p [r, in]), and computed as two smaller products. Module and parameter names are
# transformers' BertForSequenceClassification names, so the checkpoint maps one to one. The computation is BERT's eager one (post-LN layers, exact
# GELU, additive attention mask with the dtype's minimum), which webprune's engine also computes.
import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F
from transformers import BertConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput


class WebpruneBertConfig(BertConfig):
    model_type = "webprune_bert"

    def __init__(self, webprune_layers=None, attention_head_size=None, webprune_pooler_size=None, **kwargs):
        super().__init__(**kwargs)
        dense = {"num_attention_heads": self.num_attention_heads, "intermediate_size": self.intermediate_size}
        self.webprune_layers = [dict(l) for l in webprune_layers] if webprune_layers is not None else [dict(dense) for _ in range(self.num_hidden_layers)]
        if len(self.webprune_layers) != self.num_hidden_layers:
            raise ValueError(f"webprune_layers has {len(self.webprune_layers)} entries, num_hidden_layers is {self.num_hidden_layers}")
        self.attention_head_size = attention_head_size if attention_head_size is not None else self.hidden_size // self.num_attention_heads
        self.webprune_pooler_size = webprune_pooler_size if webprune_pooler_size is not None else self.hidden_size


class WebpruneLinear(nn.Module):
    """nn.Linear, or a rank-pruned one W = Q·P (weight_q [out, r], weight_p [r, in]) computed as two
    smaller products; at rank 0 only the bias remains. rank None: dense."""

    def __init__(self, in_features, out_features, rank=None):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        if rank is None:
            self.weight = nn.Parameter(torch.empty(out_features, in_features))
        elif rank > 0:
            self.weight_q = nn.Parameter(torch.empty(out_features, rank))
            self.weight_p = nn.Parameter(torch.empty(rank, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x):
        if self.rank is None:
            return F.linear(x, self.weight, self.bias)
        if self.rank == 0:
            return self.bias.expand(*x.shape[:-1], self.out_features)
        return F.linear(F.linear(x, self.weight_p), self.weight_q, self.bias)


class WebpruneBertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None] + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class WebpruneBertSelfAttention(nn.Module):
    def __init__(self, config, heads, ranks):
        super().__init__()
        self.heads, self.head_size = heads, config.attention_head_size
        width = heads * self.head_size
        self.query = WebpruneLinear(config.hidden_size, width, ranks.get("query"))
        self.key = WebpruneLinear(config.hidden_size, width, ranks.get("key"))
        self.value = WebpruneLinear(config.hidden_size, width, ranks.get("value"))
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, x, additive_mask):
        b, s, _ = x.shape
        split = lambda t: t.view(b, s, self.heads, self.head_size).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + additive_mask
        probs = self.dropout(torch.softmax(scores, dim=-1))
        return torch.matmul(probs, v).transpose(1, 2).reshape(b, s, self.heads * self.head_size)


class WebpruneBertSublayerOutput(nn.Module):
    """LayerNorm(dropout(dense(h)) + x); a removed sub-layer keeps only its (unused) LayerNorm."""

    def __init__(self, config, width, rank=None):
        super().__init__()
        if width > 0:
            self.dense = WebpruneLinear(width, config.hidden_size, rank)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(self.dropout(self.dense(h)) + x)


class WebpruneBertAttention(nn.Module):
    def __init__(self, config, heads, ranks):
        super().__init__()
        self.heads = heads
        if heads > 0:
            self.self = WebpruneBertSelfAttention(config, heads, ranks)
        self.output = WebpruneBertSublayerOutput(config, heads * config.attention_head_size, ranks.get("attention_output"))

    def forward(self, x, additive_mask):
        if self.heads == 0:
            return x
        return self.output(self.self(x, additive_mask), x)


class WebpruneBertIntermediate(nn.Module):
    def __init__(self, config, width, rank=None):
        super().__init__()
        if width > 0:
            self.dense = WebpruneLinear(config.hidden_size, width, rank)

    def forward(self, x):
        return F.gelu(self.dense(x))


class WebpruneBertLayer(nn.Module):
    def __init__(self, config, heads, width, ranks):
        super().__init__()
        self.width = width
        self.attention = WebpruneBertAttention(config, heads, ranks)
        self.intermediate = WebpruneBertIntermediate(config, width, ranks.get("intermediate"))
        self.output = WebpruneBertSublayerOutput(config, width, ranks.get("output"))

    def forward(self, x, additive_mask):
        x = self.attention(x, additive_mask)
        if self.width == 0:
            return x
        return self.output(self.intermediate(x), x)


class WebpruneBertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(WebpruneBertLayer(config, l["num_attention_heads"], l["intermediate_size"], l.get("ranks") or {}) for l in config.webprune_layers)

    def forward(self, x, additive_mask, output_hidden_states=False):
        states = [x] if output_hidden_states else None
        for layer in self.layer:
            x = layer(x, additive_mask)
            if states is not None:
                states.append(x)
        return x, states


class WebpruneBertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.webprune_pooler_size)

    def forward(self, sequence):
        return torch.tanh(self.dense(sequence[:, 0]))


class WebprunePreTrainedModel(PreTrainedModel):
    config_class = WebpruneBertConfig
    base_model_prefix = "bert"

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, WebpruneLinear):
            for name in ("weight", "weight_q", "weight_p"):
                if hasattr(module, name):
                    getattr(module, name).normal_(0.0, std)
            module.bias.zero_()
        elif isinstance(module, nn.Linear):
            module.weight.normal_(0.0, std)
            module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.normal_(0.0, std)
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()


class WebpruneBertModel(WebprunePreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embeddings = WebpruneBertEmbeddings(config)
        self.encoder = WebpruneBertEncoder(config)
        self.pooler = WebpruneBertPooler(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=None, return_dict=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        additive = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        sequence, states = self.encoder(x, additive, bool(output_hidden_states))
        return BaseModelOutputWithPooling(last_hidden_state=sequence, pooler_output=self.pooler(sequence), hidden_states=tuple(states) if states else None)


class WebpruneBertForSequenceClassification(WebprunePreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = WebpruneBertModel(config)
        dropout = config.classifier_dropout if getattr(config, "classifier_dropout", None) is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.webprune_pooler_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels: Optional[torch.Tensor] = None, output_hidden_states=None, return_dict=None, **kwargs):
        out = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.pooler_output))
        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
            else:
                loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
