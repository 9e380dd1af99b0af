/**
 * `webprune export` as a library call: a sequence classifier's checkpoint directory written as ONNX
 * (export/onnx.ts) and/or a transformers directory (export/transformers.ts), with its tokenizer and
 * a model card (export/model_card.ts). No GPU is needed.
 *
 * Layout of OUT (the Hugging Face hub's, which transformers and transformers.js both read):
 *   config.json, tokenizer files, README.md
 *   model.safetensors [+ modeling_webprune_bert.py]   (format transformers)
 *   onnx/model.onnx or onnx/model_fp16.onnx            (format onnx, dtype f32 or f16)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type BertConfig, configToJson, readConfig } from '../models/config.ts';
import { writeFileAtomic } from '../models/io/atomic.ts';
import { loadCheckpoint } from '../models/io/checkpoint.ts';
import { findRunFacts, modelCard } from './model_card.ts';
import { type OnnxDType, writeOnnx } from './onnx.ts';
import { INFERENCE_DTYPES } from '../engine/dtype.ts';
import { MODELING_FILE, TOKENIZER_FILES, writeTransformersExport } from './transformers.ts';
import { validateOutputDir } from '../training/output_dir.ts';

export const EXPORT_FORMATS = ['onnx', 'transformers'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  /** A checkpoint directory of a sequence classifier (as `webprune prune` / `finetune` write). */
  model: string;
  formats: readonly ExportFormat[];
  /** f32 (default) or f16: the ONNX graph's float type, and the transformers weights' dtype. */
  dtype?: OnnxDType;
  out: string;
  /** How the model was named by the user (a hub id, say), for the model card; default `model`. */
  source?: string;
}

export interface ExportResult {
  out: string;
  /** Files written, relative to `out`. */
  files: string[];
  /** Whether transformers needs trust_remote_code to load the export. */
  remoteCode: boolean;
}

/**
 * Exports a model (see the module comment).
 * @throws Error for an empty or unknown format list, `out` equal to `model`, a checkpoint that does
 *   not load (the loader names the file and tensor), or one that is not a sequence classifier
 */
export function exportModel(options: ExportOptions): ExportResult {
  const formats = [...new Set(options.formats)];
  if (formats.length === 0) throw new Error(`--format: give one or more of ${EXPORT_FORMATS.join(', ')}`);
  for (const f of formats) if (!(EXPORT_FORMATS as readonly string[]).includes(f)) throw new Error(`--format: unknown format "${f}" (${EXPORT_FORMATS.join(', ')})`);
  const dtype = options.dtype ?? 'f32';
  if (!INFERENCE_DTYPES.includes(dtype)) throw new Error(`--dtype must be ${INFERENCE_DTYPES.join(' or ')} (got ${String(dtype)})`);
  if (path.resolve(options.model) === path.resolve(options.out)) throw new Error('--out must differ from --model');
  const ckpt = loadCheckpoint(options.model, { head: 'classification' });
  validateOutputDir(options.out, '--out'); // refuses /proc, files, read-only or full places (mkdir under /proc never returns)

  const files: string[] = [];
  let remoteCode = false;
  if (formats.includes('transformers')) {
    const r = writeTransformersExport(ckpt, options.out, { dtype: dtype === 'f16' ? 'F16' : 'F32', tokenizerDir: options.model });
    files.push(...r.files);
    remoteCode = r.remoteCode;
  } else {
    // Keep the config.json of an earlier transformers export of the same model (it has the auto_map).
    const configFile = path.join(options.out, 'config.json');
    if (!sameStructure(configFile, ckpt.config)) writeFileAtomic(configFile, `${JSON.stringify(configToJson({ ...ckpt.config, architectures: ['BertForSequenceClassification'] }), null, 2)}\n`);
    files.push('config.json');
    for (const f of TOKENIZER_FILES) {
      const src = path.join(options.model, f);
      if (fs.existsSync(src)) {
        writeFileAtomic(path.join(options.out, f), fs.readFileSync(src));
        files.push(f);
      }
    }
  }
  if (formats.includes('onnx')) {
    const facts = findRunFacts(options.model);
    const metadata: Record<string, string> = { source: options.source ?? options.model };
    if (facts?.task) metadata['task'] = facts.task;
    files.push(path.relative(options.out, writeOnnx(ckpt, options.out, { dtype, metadata })));
  }
  // The card lists everything in OUT, files of earlier exports into it (another dtype) included.
  const all = [...new Set([...files, ...filesIn(options.out), 'README.md'])].sort();
  remoteCode ||= fs.existsSync(path.join(options.out, MODELING_FILE));
  const card = modelCard({ config: ckpt.config, source: options.source ?? options.model, facts: findRunFacts(options.model), files: all, remoteCode });
  writeFileAtomic(path.join(options.out, 'README.md'), card);
  files.push('README.md');
  return { out: options.out, files, remoteCode };
}

/** Whether `file` is a config.json of the same structure as `config` (an earlier export of this model). */
function sameStructure(file: string, config: BertConfig): boolean {
  if (!fs.existsSync(file)) return false;
  try {
    const c = readConfig(path.dirname(file));
    return c.hiddenSize === config.hiddenSize && c.numLabels === config.numLabels && JSON.stringify(c.layers) === JSON.stringify(config.layers);
  } catch {
    return false;
  }
}

/** Files under `dir`, relative, '/'-separated. */
function filesIn(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
}
