/**
 * The model card (README.md) of an export directory: where the model came from, its task,
 * sparsity and structure, its dev metrics when the run that made it recorded them, and how to load
 * it in ONNX Runtime and in transformers. With Hugging Face hub front matter, so the directory can
 * be pushed to the hub as it is.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { denseOf, prunableSparsity } from '../bench/structures.ts';
import { type BertConfig, parameterCount } from '../models/config.ts';

/** What the run that produced a model recorded about it (prune or finetune summary.json). */
export interface RunFacts {
  /** The file the facts were read from. */
  file: string;
  task?: string;
  transfer?: string | null;
  method?: string;
  sparsity?: { target?: number; achieved?: number };
  /** Dev metrics of the exported weights. */
  dev?: Record<string, number>;
}

const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
const numbers = (x: unknown): Record<string, number> | undefined =>
  isObject(x) ? Object.fromEntries(Object.entries(x).filter((e): e is [string, number] => typeof e[1] === 'number')) : undefined;

/**
 * The facts a run left beside a model directory: `DIR/../summary.json` of `webprune prune`
 * (DIR = OUT/pruned), else `DIR/summary.json` of `webprune finetune` (`results.json` in runs made
 * before the jobs layer); null when there are none.
 * Unreadable files are ignored (the card then says less).
 */
export function findRunFacts(modelDir: string): RunFacts | null {
  const read = (file: string): Record<string, unknown> | null => {
    try {
      const v: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
      return isObject(v) ? v : null;
    } catch {
      return null;
    }
  };
  const summaryFile = path.join(path.dirname(path.resolve(modelDir)), 'summary.json');
  const summary = fs.existsSync(summaryFile) ? read(summaryFile) : null;
  if (summary && isObject(summary['sparsity']) && isObject(summary['metrics'])) {
    const s = summary['sparsity'] as Record<string, unknown>;
    return {
      file: summaryFile,
      task: typeof summary['task'] === 'string' ? summary['task'] : undefined,
      transfer: typeof summary['transfer'] === 'string' ? summary['transfer'] : null,
      method: typeof summary['method'] === 'string' ? summary['method'] : undefined,
      sparsity: { target: typeof s['target'] === 'number' ? s['target'] : undefined, achieved: typeof s['achieved'] === 'number' ? s['achieved'] : undefined },
      dev: numbers((summary['metrics'] as Record<string, unknown>)['dev']),
    };
  }
  // A finetune run's summary.json (results.json before the jobs layer) is in the model directory itself.
  for (const name of ['summary.json', 'results.json']) {
    const file = path.join(modelDir, name);
    const results = fs.existsSync(file) ? read(file) : null;
    if (results && isObject(results['best'])) return { file, task: typeof results['task'] === 'string' ? results['task'] : undefined, dev: numbers(results['best']) };
  }
  return null;
}

export interface ModelCardInput {
  config: BertConfig;
  /** What --model named (a directory or a hub id). */
  source: string;
  facts: RunFacts | null;
  /** Files of the export, relative to its directory (onnx/model.onnx, model.safetensors, ...). */
  files: string[];
  /** Whether the transformers export needs trust_remote_code. */
  remoteCode: boolean;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function structureTable(config: BertConfig): string {
  const counts = parameterCount(config).perLayer;
  const factorised = config.layers.some((l) => l.ranks && Object.keys(l.ranks).length > 0);
  const rows = config.layers.map((l, i) => {
    const attn = l.numHeads === 0 ? 'removed' : `${l.numHeads} / ${config.numHeads}`;
    const ffn = l.intermediateSize === 0 ? 'removed' : `${l.intermediateSize} / ${config.intermediateSize}`;
    const ranks = factorised ? ` ${Object.entries(l.ranks ?? {}).map(([k, r]) => `${k} ${r}`).join(', ') || 'none'} |` : '';
    return `| ${i} | ${attn} | ${ffn} |${ranks} ${(counts[i]!.mha + counts[i]!.ffn).toLocaleString('en-US')} |`;
  });
  const head = factorised ? ['| layer | heads | FFN units | factorised Linears (rank) | prunable params |', '|---|---|---|---|---|'] : ['| layer | heads | FFN units | prunable params |', '|---|---|---|---|'];
  return [...head, ...rows].join('\n');
}

function loadingSection(input: ModelCardInput): string {
  const parts: string[] = [];
  const onnx = input.files.filter((f) => f.endsWith('.onnx'));
  if (onnx.length > 0) {
    parts.push(
      '### ONNX Runtime',
      '',
      `Inputs \`input_ids\`, \`attention_mask\`, \`token_type_ids\` (int64, [batch, sequence]); output \`logits\` ([batch, ${input.config.numLabels}]). Files: ${onnx.map((f) => `\`${f}\``).join(', ')}.`,
      '',
      '```python',
      'import numpy as np, onnxruntime as ort',
      'from transformers import AutoTokenizer',
      'tok = AutoTokenizer.from_pretrained(".")',
      `session = ort.InferenceSession("${onnx[0]}")`,
      'enc = tok(["The cat sat."], ["A cat was sitting."], return_tensors="np")',
      'logits = session.run(["logits"], {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")})[0]',
      '```',
      '',
      '```js',
      "import * as ort from 'onnxruntime-node';",
      `const session = await ort.InferenceSession.create('${onnx[0]}');`,
      "// feeds: { input_ids, attention_mask, token_type_ids } as ort.Tensor('int64', BigInt64Array, [batch, sequence])",
      '```',
      '',
    );
  }
  if (input.files.some((f) => f.endsWith('.safetensors'))) {
    const trust = input.remoteCode ? ', trust_remote_code=True' : '';
    parts.push(
      '### transformers',
      '',
      input.remoteCode
        ? 'Each layer has its own head count and FFN width, which `BertForSequenceClassification` cannot hold: the model class is in `modeling_webprune_bert.py` beside the weights (`auto_map` in config.json), so loading needs `trust_remote_code=True`.'
        : 'A plain BERT checkpoint: transformers\' own `BertForSequenceClassification` loads it.',
      '',
      '```python',
      'from transformers import AutoModelForSequenceClassification, AutoTokenizer',
      `model = AutoModelForSequenceClassification.from_pretrained("."${trust}).eval()`,
      'tok = AutoTokenizer.from_pretrained(".")',
      'logits = model(**tok(["The cat sat."], ["A cat was sitting."], return_tensors="pt")).logits',
      '```',
      '',
    );
  }
  return parts.join('\n');
}

/** The README.md text of an export (see the module comment). */
export function modelCard(input: ModelCardInput): string {
  const { config, facts } = input;
  const dense = denseOf(config);
  const sparsity = prunableSparsity(dense, config);
  const task = facts?.task ?? 'unknown (no summary.json or results.json beside the model)';
  const lines = [
    '---',
    'library_name: transformers',
    'pipeline_tag: text-classification',
    'tags: [webprune, structured-pruning, cofi, bert, onnx]',
    '---',
    '',
    `# ${facts?.task ?? path.basename(path.resolve(input.source))}: BERT with ${pct(sparsity)} of its encoder pruned (webprune)`,
    '',
    `Exported by \`webprune export\` from \`${input.source}\`.`,
    '',
    '| | |',
    '|---|---|',
    `| task | ${task}${facts?.transfer ? ` (transfer task ${facts.transfer}, method ${facts.method})` : ''} |`,
    `| labels | ${config.numLabels === 1 ? '1 (regression)' : `${config.numLabels}${config.id2label ? `: ${Object.values(config.id2label).join(', ')}` : ''}`} |`,
    `| sparsity | ${pct(sparsity)} of the prunable encoder parameters removed (attention and FFN weights; embeddings, layer norms, pooler and classifier not counted)${facts?.sparsity?.target !== undefined ? `; target ${pct(facts.sparsity.target)}` : ''} |`,
    `| prunable parameters | ${parameterCount(config).total.toLocaleString('en-US')} of ${parameterCount(dense).total.toLocaleString('en-US')} |`,
    `| hidden size | ${config.hiddenSize}${config.hiddenSize !== dense.hiddenSize ? ` (of ${dense.hiddenSize}; the pooler keeps ${dense.hiddenSize})` : ''}, head size ${config.headSize} |`,
  ];
  if (facts?.dev && Object.keys(facts.dev).length > 0) {
    lines.push(`| dev metrics | ${Object.entries(facts.dev).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')} (from \`${path.basename(facts.file)}\`) |`);
  }
  lines.push('', '## Structure', '', structureTable(config), '', '## Loading', '', loadingSection(input), '## Files', '', ...input.files.map((f) => `- \`${f}\``), '');
  return lines.join('\n');
}
