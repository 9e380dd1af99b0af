/**
 * Writes a webprune checkpoint and webprune's own outputs on fixed inputs, for the reverse parity
 * check with transformers (`scripts/golden/make_bert_golden.py --check-saved DIR`, run where
 * transformers is installed):
 *
 *   node --import ./scripts/ts-register.mjs scripts/parity-checkpoint.ts DIR \
 *     [--head classification|regression|mlm] [--dtype F32|F16] [--pruned] [--seed N]
 *
 * DIR receives config.json (writeConfig), model.safetensors (every parameter of the model, F32 or
 * F16) and golden.safetensors in the layout of test/fixtures/bert-parity: input_ids,
 * token_type_ids, attention_mask, labels (all stored as F32: exact small integers), and webprune's
 * last_hidden_state, pooler_output (not for mlm), logits, loss, hidden_states.<i> and grad.<name>
 * of every parameter that gets a gradient, in eval mode. The model is small (vocab 99, hidden 32,
 * 2 layers of 4 heads, FFN 37) with N(0, 0.2²) weights and biases; --pruned gives its layers 3 and
 * 1 heads (transformers' pruned_heads).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { Bert, type EncoderOutput, type HeadKind, parameterShapes } from '../models/bert.ts';
import { type BertConfig, parseConfig, writeConfig } from '../models/config.ts';
import { type SafetensorsWriteTensor, writeSafetensors } from '../models/io/safetensors.ts';

type Task = 'classification' | 'regression' | 'mlm';

interface Options {
  dir: string;
  task: Task;
  dtype: 'F32' | 'F16';
  pruned: boolean;
  seed: number;
}

const USAGE = 'usage: parity-checkpoint.ts DIR [--head classification|regression|mlm] [--dtype F32|F16] [--pruned] [--seed N]';

/** Parses the command line. @throws Error with the usage line on bad arguments */
function parseArgs(argv: string[]): Options {
  const opts: Options = { dir: '', task: 'classification', dtype: 'F32', pruned: false, seed: 7 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--head') {
      const v = value();
      if (v !== 'classification' && v !== 'regression' && v !== 'mlm') throw new Error(`--head ${v}: expected classification, regression or mlm\n${USAGE}`);
      opts.task = v;
    } else if (a === '--dtype') {
      const v = value();
      if (v !== 'F32' && v !== 'F16') throw new Error(`--dtype ${v}: expected F32 or F16\n${USAGE}`);
      opts.dtype = v;
    } else if (a === '--pruned') opts.pruned = true;
    else if (a === '--seed') {
      opts.seed = Number(value());
      if (!Number.isSafeInteger(opts.seed)) throw new Error(`--seed must be an integer\n${USAGE}`);
    } else if (a.startsWith('--') || opts.dir) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    else opts.dir = a;
  }
  if (!opts.dir) throw new Error(USAGE);
  return opts;
}

/** The checkpoint's configuration, through parseConfig as a transformers config.json would be. */
function checkpointConfig(opts: Options): BertConfig {
  const labels = opts.task === 'regression' ? 1 : opts.task === 'mlm' ? 2 : 3;
  return parseConfig(
    {
      architectures: [opts.task === 'mlm' ? 'BertForMaskedLM' : 'BertForSequenceClassification'],
      vocab_size: 99,
      hidden_size: 32,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      intermediate_size: 37,
      max_position_embeddings: 40,
      initializer_range: 0.2,
      num_labels: labels,
      ...(opts.pruned ? { pruned_heads: { '0': [3], '1': [1, 2, 3] } } : {}),
    },
    'parity-checkpoint',
  );
}

/** N(0, 0.2²) for every parameter (1 + N(0, 0.2²) for LayerNorm weights), seeded. */
function randomValues(config: BertConfig, head: HeadKind, rng: E.HostRandom): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of parameterShapes(config, head)) {
    const data = Float32Array.from({ length: E.sizeOf(shape) }, () => (name.includes('LayerNorm.weight') ? 1 : 0) + 0.2 * rng.normal());
    out.set(name, { shape, data });
  }
  return out;
}

/** Writes the checkpoint and golden files; returns the paths written. */
async function writeParityCheckpoint(opts: Options): Promise<string[]> {
  const config = checkpointConfig(opts);
  const head: HeadKind = opts.task === 'mlm' ? 'mlm' : 'classification';
  const rng = new E.HostRandom(opts.seed);
  const model = new Bert(config, head, randomValues(config, head, rng));

  // Inputs: 3 rows of 11 tokens, 0 / 3 / 6 trailing pads (id 0, mask 0), a second segment.
  const B = 3;
  const S = 11;
  const lengths = [S, S - 3, S - 6];
  const ids = new Int32Array(B * S);
  const types = new Int32Array(B * S);
  const mask = new Float32Array(B * S);
  lengths.forEach((n, b) => {
    for (let s = 0; s < n; s++) {
      ids[b * S + s] = s === 0 ? 2 : 4 + rng.int(config.vocabSize - 4);
      mask[b * S + s] = 1;
      types[b * S + s] = s >= n / 2 ? 1 : 0;
    }
  });
  let labels: Float32Array;
  if (opts.task === 'mlm') {
    labels = new Float32Array(B * S).fill(-100);
    lengths.forEach((n, b) => {
      for (let s = 1; s < n; s++) {
        if (rng.uniform() < 0.35) {
          labels[b * S + s] = ids[b * S + s]!;
          ids[b * S + s] = 3;
        }
      }
    });
  } else if (opts.task === 'regression') labels = Float32Array.from({ length: B }, () => rng.normal());
  else labels = Float32Array.from({ length: B }, () => rng.int(config.numLabels));

  const inputs = { inputIds: E.tensor(ids, [B, S], 'i32'), tokenTypeIds: E.tensor(types, [B, S], 'i32'), attentionMask: E.tensor(mask, [B, S]) };
  const out = E.tidy(() => {
    const options = { training: false, outputHiddenStates: true };
    let encoder: EncoderOutput;
    let logits: Tensor;
    let pooled: Tensor | null = null;
    let loss: Tensor;
    if (head === 'classification') {
      const r = model.classify(inputs, options);
      encoder = r.encoder;
      logits = r.logits;
      pooled = model.pool(encoder.sequence);
      loss = opts.task === 'regression' ? E.mseLoss(logits, E.tensor(labels, [B])) : E.crossEntropy(logits, E.tensor(Int32Array.from(labels), [B], 'i32'));
    } else {
      encoder = model.encode(inputs, options);
      logits = model.mlmLogits(encoder.sequence, E.tensor(Int32Array.from({ length: B * S }, (_, i) => i), [B * S], 'i32'));
      loss = E.crossEntropy(logits, E.tensor(Int32Array.from(labels), [B * S], 'i32'), { ignoreIndex: -100 });
    }
    E.backward(loss);
    return { sequence: encoder.sequence, hidden: encoder.hiddenStates ?? [], logits, pooled, loss };
  });

  const golden: SafetensorsWriteTensor[] = [
    { name: 'input_ids', shape: [B, S], data: Float32Array.from(ids) },
    { name: 'token_type_ids', shape: [B, S], data: Float32Array.from(types) },
    { name: 'attention_mask', shape: [B, S], data: mask },
    { name: 'labels', shape: opts.task === 'mlm' ? [B, S] : [B], data: labels },
  ];
  const add = async (name: string, t: Tensor) => golden.push({ name, shape: [...t.shape], data: (await t.read()) as Float32Array });
  await add('last_hidden_state', out.sequence);
  if (out.pooled) await add('pooler_output', out.pooled);
  await add('logits', out.logits);
  await add('loss', out.loss);
  for (const [i, h] of out.hidden.entries()) await add(`hidden_states.${i}`, h);
  for (const [name, p] of model.params) if (p.grad) await add(`grad.${name}`, p.grad);

  fs.mkdirSync(opts.dir, { recursive: true });
  writeConfig(opts.dir, config);
  const values = await model.values();
  const modelFile = path.join(opts.dir, 'model.safetensors');
  writeSafetensors(modelFile, [...values].map(([name, v]) => ({ name, shape: v.shape, data: v.data })), { dtype: opts.dtype, metadata: { format: 'pt' } });
  const goldenFile = path.join(opts.dir, 'golden.safetensors');
  writeSafetensors(goldenFile, golden, { metadata: { implementation: 'webprune', task: opts.task, seed: String(opts.seed) } });
  model.dispose();
  return [path.join(opts.dir, 'config.json'), modelFile, goldenFile];
}

try {
  const opts = parseArgs(process.argv.slice(2));
  await E.initEngine();
  for (const f of await writeParityCheckpoint(opts)) console.log(`wrote ${f}`);
  process.exit(0);
} catch (err) {
  console.error(`parity-checkpoint: ${(err as Error).message}`);
  process.exit(1);
}
