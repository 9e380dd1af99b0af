/**
 * Export for Hugging Face transformers: a directory that
 * `AutoModelForSequenceClassification.from_pretrained(DIR[, trust_remote_code=True])` loads with
 * the same outputs as webprune.
 *
 * - A dense model (every layer with the default heads and FFN width, head size · heads = hidden
 *   size, no hidden-dimension pruning) is plain BERT: config.json with model_type "bert" and
 *   BertForSequenceClassification, loaded by transformers' own code.
 * - A pruned model (CoFi: per-layer heads and FFN widths, layers without attention or FFN, pruned
 *   hidden dims) cannot be built by BertForSequenceClassification (one head count and FFN width for
 *   all layers; transformers 5 refuses the checkpoint). Its directory gets `modeling_webprune_bert.py`
 *   (export/, committed) beside the weights and a config.json with model_type "webprune_bert" and an
 *   `auto_map` naming the classes in that file, so transformers loads it with `trust_remote_code=True`.
 *   The structure stays in the config's `webprune_layers`, `attention_head_size` and
 *   `webprune_pooler_size` (models/config.ts); `pruned_heads` is dropped, since transformers 4 would
 *   try to prune the custom model's heads with it.
 *
 * Weights are the checkpoint's, re-saved as safetensors (F32, or F16/BF16 on request), tensor names
 * unchanged. The tokenizer files of the source directory are copied.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BertConfig, isPruned } from '../models/config.ts';
import { writeFileAtomic } from '../models/io/atomic.ts';
import { type Checkpoint, saveCheckpoint } from '../models/io/checkpoint.ts';
import type { SafetensorsWriteDType } from '../models/io/safetensors.ts';

/** The remote-code file written beside pruned models. */
export const MODELING_FILE = 'modeling_webprune_bert.py';
/** model_type of pruned exports (the config class in MODELING_FILE). */
export const REMOTE_MODEL_TYPE = 'webprune_bert';

/** Files of a tokenizer that are copied when the source directory has them. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'] as const;

/** Path of the committed modeling file (export/ in the source tree; ../export next to the bundle in dist/). */
export function modelingTemplatePath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.join(here, MODELING_FILE), path.join(here, '..', 'export', MODELING_FILE)]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${MODELING_FILE} not found next to ${here} (expected export/${MODELING_FILE})`);
}

/**
 * Whether transformers' BertForSequenceClassification cannot hold this configuration: some layer
 * differs from the defaults, hidden dims were pruned (pooler wider than the hidden size), or the
 * head size times the head count is not the hidden size.
 */
export function needsRemoteCode(config: BertConfig): boolean {
  const pooler = config.poolerSize ?? config.hiddenSize;
  return isPruned(config) || pooler !== config.hiddenSize || config.headSize * config.numHeads !== config.hiddenSize;
}

/** config.json of a pruned export: webprune's JSON with the remote-code keys (see the module comment). */
export function remoteCodeConfig(json: Record<string, unknown>): Record<string, unknown> {
  const { pruned_heads: _ignored, ...rest } = json;
  const mod = MODELING_FILE.replace(/\.py$/, '');
  return {
    ...rest,
    architectures: ['WebpruneBertForSequenceClassification'],
    auto_map: {
      AutoConfig: `${mod}.WebpruneBertConfig`,
      AutoModel: `${mod}.WebpruneBertModel`,
      AutoModelForSequenceClassification: `${mod}.WebpruneBertForSequenceClassification`,
    },
    model_type: REMOTE_MODEL_TYPE,
  };
}

export interface TransformersExportOptions {
  /** Stored dtype of the weights (default F32). */
  dtype?: SafetensorsWriteDType;
  /** A directory whose tokenizer files are copied (the source model's). */
  tokenizerDir?: string;
}

/**
 * Writes the transformers export of a sequence classifier to `outDir` (see the module comment).
 * @returns the files written (relative to outDir) and whether the model needs trust_remote_code
 * @throws Error when the checkpoint is not a sequence classifier; the checkpoint writer's errors
 */
export function writeTransformersExport(ckpt: Checkpoint, outDir: string, options: TransformersExportOptions = {}): { files: string[]; remoteCode: boolean } {
  if (ckpt.head !== 'classification') throw new Error(`transformers export: only sequence classifiers are exported (this checkpoint is a ${ckpt.head} model)`);
  const files = saveCheckpoint(outDir, ckpt.config, ckpt.tensors, { dtype: options.dtype });
  const remoteCode = needsRemoteCode(ckpt.config);
  const modelingOut = path.join(outDir, MODELING_FILE);
  if (remoteCode) {
    const configFile = path.join(outDir, 'config.json');
    const json = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    writeFileAtomic(configFile, `${JSON.stringify(remoteCodeConfig(json), null, 2)}\n`);
    writeFileAtomic(modelingOut, fs.readFileSync(modelingTemplatePath()));
    files.push(MODELING_FILE);
  } else if (fs.existsSync(modelingOut)) fs.rmSync(modelingOut); // left by an earlier export of a pruned model
  if (options.tokenizerDir !== undefined && path.resolve(options.tokenizerDir) !== path.resolve(outDir)) {
    for (const f of TOKENIZER_FILES) {
      const src = path.join(options.tokenizerDir, f);
      if (fs.existsSync(src)) {
        writeFileAtomic(path.join(outDir, f), fs.readFileSync(src));
        files.push(f);
      }
    }
  }
  return { files, remoteCode };
}
