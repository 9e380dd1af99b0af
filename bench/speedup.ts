/**
 * Speedup of compacted models over the dense one, measured beside the ideal.
 *
 * For each target sparsity a compacted structure is drawn "like CoFi's" (structures.ts) from the
 * dense configuration, built with random weights (timing does not depend on the values), and its
 * inference latency measured as CoFi's evaluation does: sequence classification of a batch (CoFi:
 * 128 sequences padded to length 128), first pass dropped. All models are timed round-robin in one
 * run (GpuTimer.timeInterleaved), so load that drifts on a shared machine affects them alike and the
 * speedups (dense median / model median) are ratios within one run.
 *
 * ideal_speedup = dense encoder FLOPs / pruned encoder FLOPs (flops.ts encoderFlops).
 *
 * With strategies ['structured', 'rank'], each sparsity is timed twice at equal prunable parameter
 * counts: a CoFi-like structure and a rank-pruned one (every Linear factorised, structures.ts
 * rankLikeStructure). Element-wise pruning has no row here: with dense GEMMs it runs exactly as fast
 * as the dense model.
 *
 * Runtimes (`runtimes`): our engine on the WebGPU adapter is always timed; 'onnxruntime' and
 * 'onnxruntime-webgpu' time the same models exported to ONNX (bench/onnxruntime.ts) on ONNX
 * Runtime's CPU and WebGPU execution providers, 'torch' in eager PyTorch (bench/torch_bench.py).
 * Each runtime times its models round-robin in its own block after ours; every speedup is a ratio
 * of that runtime's own times (dense / pruned), so load that differs between blocks cancels.
 *
 * Precisions (`dtypes`, `--dtype f32,f16`): with f16, every model is timed a second time with its
 * weights cast to f16 (models/precision.ts) in the same round-robin, giving one row per structure
 * and dtype; an f16 row's speedup is over the f16 dense model, and `over_f32` is the f32 row's
 * median over its own. Other runtimes time the f32 rows (PyTorch reports its fp16 beside them).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import { loadModel } from '../models/load.ts';
import { readTaskHeads } from '../models/io/task_heads.ts';
import { Bert } from '../models/bert.ts';
import type { Checkpoint } from '../models/io/checkpoint.ts';
import { type HostInputs, timeOnnxRuntime } from './onnxruntime.ts';
import { type BertConfig, NAMED_SIZES, configToJson, namedConfig, parameterCount, readConfig } from '../models/config.ts';
import { encoderFlops } from './flops.ts';
import { type DeviceInfo, bertInputs, deviceInfo } from './kernels.ts';
import { cofiLikeStructure, denseOf, isDense, prunableSparsity, rankLikeStructure } from './structures.ts';
import { type TorchOp, type TorchReport, type TorchRunOptions, runTorchBench } from './torch.ts';
import { GpuTimer, type TimingMethod, type TimingStats, initBenchEngine } from './timer.ts';
import { makeDirectory } from '../models/io/fs_errors.ts';
import { castModel } from '../models/precision.ts';

/** CoFi's latency setting: batch 128, sequences padded to 128. */
export const COFI_BATCH = 128;
export const COFI_SEQ = 128;

/** How the drawn pruned structures are made: CoFi's structured pruning or FLOP's rank pruning. */
export const SPEEDUP_STRATEGIES = ['structured', 'rank'] as const;
export type SpeedupStrategy = (typeof SPEEDUP_STRATEGIES)[number];

export interface SpeedupOptions {
  /** A named size (tiny, mini, small, base) or a model directory with a transformers config.json. */
  model: string;
  /** Drawn structures per sparsity (default ['structured']). */
  strategies?: SpeedupStrategy[];
  /** Target sparsities in [0, 1); 0 (the dense model) is added when missing. */
  sparsities: number[];
  batchSize?: number;
  seqLen?: number;
  warmup?: number;
  repeats?: number;
  /** Seed of the structures, weights and inputs. */
  seed?: number;
  /** Precisions each model is timed in (default ['f32']; see the module comment). */
  dtypes?: readonly E.InferenceDType[];
  wallClock?: boolean;
  /** Further pruned checkpoints (model directories) of the same dense model, each timed with its own weights. */
  checkpoints?: readonly string[];
  torch?: Omit<TorchRunOptions, 'warmup' | 'repeats'>;
  /** Runtimes besides ours (see the module comment); 'torch' here is the same as `torch: {}`. */
  runtimes?: readonly SpeedupRuntime[];
  /** Timed runs per model in ONNX Runtime's CPU provider and PyTorch, whose runs are cheap (default: `repeats`). */
  runtimeRepeats?: number;
  onProgress?: (done: number, total: number) => void;
}

/** The runtimes `bench speedup` can time; webprune is always timed. */
export const SPEEDUP_RUNTIMES = ['webprune', 'onnxruntime', 'onnxruntime-webgpu', 'torch'] as const;
export type SpeedupRuntime = (typeof SPEEDUP_RUNTIMES)[number];

/** One runtime's result for a row: its latency, its own speedup over its dense model, and that over the ideal. */
export interface RuntimeResult {
  latency_ms: TimingStats;
  /** Dense median / this median. */
  speedup: number;
  /** speedup / ideal_speedup. */
  efficiency: number;
  /** Dense min / this min: the ratio of the least-disturbed runs, steadier on a shared machine. */
  speedup_of_min: number;
}

export interface SpeedupRow {
  /** Target sparsity (for a checkpoint's own structure: its sparsity). */
  sparsity: number;
  /** Sparsity of the structure: 1 − prunable params / dense prunable params. */
  achieved_sparsity: number;
  /** 'drawn' (structures.ts) or 'checkpoint' (a model directory's own structure). */
  source: 'drawn' | 'checkpoint';
  /** The model directory of a checkpoint row. */
  model_dir?: string;
  /** How a drawn structure was made ('dense' for the dense row; the checkpoint's: 'checkpoint'). */
  strategy: SpeedupStrategy | 'dense' | 'checkpoint';
  /** Prunable encoder parameters (attention and FFN weights and biases). */
  params: number;
  /** Encoder FLOPs of one forward at this batch and length (flops.ts). */
  flops: number;
  /** Latency of one forward (ms) by the report's timing method. */
  latency_ms: TimingStats;
  /** Record + submit + wait for one forward (ms). */
  wall_ms: TimingStats;
  /** Dense median latency / this median latency. */
  speedup: number;
  /** Dense encoder FLOPs / this encoder's FLOPs. */
  ideal_speedup: number;
  /** speedup / ideal_speedup. */
  efficiency: number;
  structure: { hidden_size: number; heads: number[]; intermediate: number[]; ranks?: Array<Record<string, number>> };
  /** Descriptor for torch_bench.py (the report is a spec it accepts as it stands). */
  name: string;
  torch: TorchOp;
  /** With --torch: PyTorch's forward times and ours over theirs. */
  torch_result?: { fp32_ms: TimingStats; fp16_ms: TimingStats | null; ours_over_fp32: number; torch_speedup_fp32: number };
  /** Every runtime timed, webprune's (the fields above) included. */
  runtimes: Partial<Record<SpeedupRuntime, RuntimeResult>>;
  /** Precision of weights and activations; speedup is over the dense row of the same dtype. */
  dtype: E.InferenceDType;
  /** The same structure's f32 median latency over this row's (1 for f32 rows; absent when f32 was not timed). */
  over_f32?: number;
}

export interface SpeedupReport {
  command: 'bench speedup';
  model: string;
  device: DeviceInfo;
  timing: { method: TimingMethod; quantized: boolean | null; warmup: number; repeats: number };
  batch_size: number;
  seq_len: number;
  rows: SpeedupRow[];
  /** What the numbers do and do not cover. */
  notes: string[];
  torch?: Omit<TorchReport, 'results'>;
  /** The runtimes timed, with what ran (versions, providers, threads). */
  runtimes: Partial<Record<SpeedupRuntime, string>>;
}

/**
 * The dense configuration named by `--model`, and a checkpoint's own structure when it is pruned.
 * @throws Error when `model` is neither a named size nor a directory with a valid config.json
 */
export function resolveModel(model: string): { dense: BertConfig; checkpoint: BertConfig | null } {
  if (Object.hasOwn(NAMED_SIZES, model)) return { dense: namedConfig(model), checkpoint: null };
  if (fs.existsSync(model) && fs.statSync(model).isDirectory()) {
    const config = readConfig(model);
    return isDense(config) ? { dense: config, checkpoint: null } : { dense: denseOf(config), checkpoint: config };
  }
  throw new Error(`--model: "${model}" is neither a model directory with config.json nor a named size (${Object.keys(NAMED_SIZES).join(', ')})`);
}

/**
 * Builds the dense model and one compacted model per sparsity (plus the checkpoint's structure when
 * --model is a pruned directory), times their forward passes round-robin, and reports speedups.
 * Opens the engine (initBenchEngine) if needed; poisoning is off while it runs.
 * @throws Error for a bad model, sparsity outside [0, 1), seqLen above max_position_embeddings,
 *   bad warmup/repeats, an unknown strategy, or --torch with rank rows
 */
export async function runSpeedupBench(options: SpeedupOptions): Promise<SpeedupReport> {
  const batch = options.batchSize ?? COFI_BATCH;
  const seq = options.seqLen ?? COFI_SEQ;
  const warmup = options.warmup ?? 1;
  const repeats = options.repeats ?? 5;
  const seed = options.seed ?? 0;
  const { dense, checkpoint } = resolveModel(options.model);
  if (seq > dense.maxPositionEmbeddings) throw new Error(`--seq-len ${seq} exceeds max_position_embeddings ${dense.maxPositionEmbeddings}`);
  for (const s of options.sparsities) {
    if (!(s >= 0 && s < 1)) throw new Error(`--sparsities: ${s} is not in [0, 1)`);
  }
  const strategies = options.strategies ?? ['structured'];
  for (const s of strategies) if (!SPEEDUP_STRATEGIES.includes(s)) throw new Error(`--strategies: ${s} is not one of ${SPEEDUP_STRATEGIES.join(', ')}`);
  // bench/torch_bench.py builds dense-Linear models from the configs: it would time rank rows unfactorised.
  if ((options.torch || options.runtimes?.includes('torch')) && strategies.includes('rank')) throw new Error('--torch does not time rank-pruned rows (bench/torch_bench.py has no factorised Linears); drop rank from --strategies');
  const dtypes: E.InferenceDType[] = [...new Set<E.InferenceDType>(options.dtypes ?? ['f32'])];
  for (const d of dtypes) if (!E.INFERENCE_DTYPES.includes(d)) throw new Error(`--dtype: ${d} is not one of ${E.INFERENCE_DTYPES.join(', ')}`);
  const targets = [...new Set([0, ...options.sparsities])].sort((a, b) => a - b);
  type Entry = { sparsity: number; source: 'drawn' | 'checkpoint'; strategy: SpeedupRow['strategy']; config: BertConfig; dir?: string };
  const entries: Entry[] = [{ sparsity: 0, source: 'drawn', strategy: 'dense', config: cofiLikeStructure(dense, 0, seed) }];
  for (const s of targets.filter((t) => t > 0)) {
    for (const strategy of strategies) entries.push({ sparsity: s, source: 'drawn', strategy, config: strategy === 'rank' ? rankLikeStructure(dense, s) : cofiLikeStructure(dense, s, seed) });
  }
  if (checkpoint) entries.push({ sparsity: prunableSparsity(dense, checkpoint), source: 'checkpoint', strategy: 'checkpoint', config: checkpoint, dir: options.model });
  for (const dir of options.checkpoints ?? []) {
    const config = readConfig(dir);
    if (denseOf(config).hiddenSize !== dense.hiddenSize || config.numLayers !== dense.numLayers) throw new Error(`${dir}: not a pruned ${options.model} (hidden size or depth differ)`);
    entries.push({ sparsity: prunableSparsity(dense, config), source: 'checkpoint', strategy: 'checkpoint', config, dir });
  }
  const runtimes = [...new Set<SpeedupRuntime>(['webprune', ...(options.runtimes ?? []), ...(options.torch ? (['torch'] as const) : [])])];
  for (const r of runtimes) if (!(SPEEDUP_RUNTIMES as readonly string[]).includes(r)) throw new Error(`--runtime: unknown runtime "${r}" (${SPEEDUP_RUNTIMES.join(', ')})`);
  const hasWeights = (dir: string | undefined) => dir !== undefined && ['model.safetensors', 'model.safetensors.index.json'].some((f) => fs.existsSync(path.join(dir, f)));
  const engine = await initBenchEngine();
  const timer = new GpuTimer(engine, options.wallClock ? 'wall' : 'auto');
  const poison = engine.poison;
  engine.poison = false;
  const models: Bert[] = [];
  const inputs = bertInputs(dense, batch, seq, 4, seed + 1);
  let hostInputs: HostInputs[] = [];
  const checkpoints: Checkpoint[] = [];
  let measured;
  try {
    // Drawn structures get random weights (enough for timing); a pruned checkpoint is timed with its own.
    // A multitask model (webprune multitask) is timed with its first task's head: the heads differ only in the classifier's width.
    // Every entry once per dtype, f32 first: model i·entries + j is entry j in dtypes[i].
    for (const dtype of dtypes) {
      for (const e of entries) {
        const m = hasWeights(e.dir) ? loadModel(e.dir!, { head: 'classification', seed, task: readTaskHeads(e.dir!)?.[0]?.name }).model : Bert.random(e.config, 'classification', seed);
        models.push(m);
        await castModel(m, dtype);
      }
    }
    let done = 0;
    const total = models.length * (warmup + repeats);
    const recorders = models.map((m) => (i: number) => {
      const x = inputs[i % inputs.length]!;
      E.noGrad(() => E.tidy(() => void m.classify({ inputIds: x.inputIds, tokenTypeIds: x.tokenTypeIds, attentionMask: x.attentionMask }, { training: false })));
    });
    measured = await timer.timeInterleaved(recorders, { warmup, repeats, onRun: () => options.onProgress?.(++done, total) });
    // The same models (weights included) and inputs for ONNX Runtime.
    if (runtimes.some((r) => r.startsWith('onnxruntime'))) {
      hostInputs = await Promise.all(
        inputs.map(async (x) => ({ batch, seq, inputIds: (await x.inputIds.read()) as Int32Array, tokenTypeIds: (await x.tokenTypeIds.read()) as Int32Array, attentionMask: (await x.attentionMask.read()) as Float32Array })),
      );
      for (const m of models.slice(0, entries.length)) checkpoints.push({ config: m.config, tensors: await m.values(), head: 'classification' });
    }
  } finally {
    engine.poison = poison;
    timer.dispose();
    for (const m of models) m.dispose();
    for (const x of inputs) for (const t of Object.values(x)) t.dispose();
  }

  const denseFlops = encoderFlops(dense, batch, seq).total;
  const rows: SpeedupRow[] = dtypes.flatMap((dtype, di) => entries.map((e, j) => {
    const i = di * entries.length + j;
    const m = measured[i]!;
    const denseTime = measured[di * entries.length]!;
    const flops = encoderFlops(e.config, batch, seq).total;
    const speedup = denseTime.median / m.median;
    const ideal = denseFlops / flops;
    return {
      sparsity: e.sparsity,
      achieved_sparsity: prunableSparsity(dense, e.config),
      source: e.source,
      ...(e.dir ? { model_dir: e.dir } : {}),
      strategy: e.strategy,
      params: parameterCount(e.config).total,
      flops,
      latency_ms: { median: m.median, min: m.min, max: m.max },
      wall_ms: m.wall,
      speedup,
      ideal_speedup: ideal,
      efficiency: speedup / ideal,
      structure: {
        hidden_size: e.config.hiddenSize,
        heads: e.config.layers.map((l) => l.numHeads),
        intermediate: e.config.layers.map((l) => l.intermediateSize),
        ...(e.config.layers.some((l) => l.ranks) ? { ranks: e.config.layers.map((l) => ({ ...l.ranks })) } : {}),
      },
      name: (dtype === dtypes[0] ? '' : `${dtype} `) + (e.dir && e.dir !== options.model ? `checkpoint ${e.dir}` : e.source === 'checkpoint' ? `checkpoint ${e.sparsity}` : e.strategy === 'rank' ? `rank sparsity ${e.sparsity}` : `sparsity ${e.sparsity}`),
      torch: { op: 'bert_forward', config: configToJson(e.config), batch, seq },
      runtimes: { webprune: { latency_ms: { median: m.median, min: m.min, max: m.max }, speedup, efficiency: speedup / ideal, speedup_of_min: denseTime.min / m.min } },
      dtype,
      ...(dtypes.includes('f32') ? { over_f32: measured[dtypes.indexOf('f32') * entries.length + j]!.median / m.median } : {}),
    };
  }));
  // Other runtimes time the first dtype's rows (f32 unless only f16 was asked for).
  const baseRows = rows.slice(0, entries.length);
  const notes = [
    'latency: sequence-classification forward (embeddings, encoder, pooler, classifier) of one batch, no gradient; first pass(es) dropped',
    'ideal_speedup counts encoder matrix-product FLOPs only (flops.ts)',
    'drawn structures have random weights: timing does not depend on their values',
  ];
  if (dtypes.includes('f16')) {
    notes.push('f16 rows: weight matrices and activations stored in f16 (biases and layer-norm parameters f32), every product and statistic accumulated in f32 (engine/ops/f16.ts); speedup is over the f16 dense row, over_f32 is the f32 row\'s median over the f16 one');
  }
  if (strategies.includes('rank')) {
    notes.push('rank rows: every Linear factorised W = Q·P at the same share of its weights (bench/structures.ts rankLikeStructure), at the parameter count of the structured row of that sparsity; element-wise pruning has no row: with dense GEMMs it runs as fast as the dense model');
  }
  if (checkpoint) {
    const weights = ['model.safetensors', 'model.safetensors.index.json'].some((f) => fs.existsSync(path.join(options.model, f)));
    notes.push(weights ? `the checkpoint row is the model in ${options.model}, with its own weights` : `the checkpoint row has the structure of ${path.join(options.model, 'config.json')} and random weights (the directory has none)`);
  }
  const report: SpeedupReport = {
    command: 'bench speedup',
    model: options.model,
    device: deviceInfo(engine),
    timing: { method: timer.method, quantized: timer.quantized, warmup, repeats },
    batch_size: batch,
    seq_len: seq,
    rows,
    notes,
    runtimes: { webprune: `webprune on ${engine.gpu.description.description} (${timer.method})` },
  };
  const otherRepeats = options.runtimeRepeats ?? repeats;
  if (!(Number.isInteger(otherRepeats) && otherRepeats >= 1)) throw new Error(`--runtime-repeats must be a positive integer (got ${otherRepeats})`);
  // Each runtime's speedups are ratios of its own times (see the module comment).
  const record = (runtime: SpeedupRuntime, times: readonly TimingStats[]) =>
    baseRows.forEach((r, i) => {
      const speedup = times[0]!.median / times[i]!.median;
      r.runtimes[runtime] = { latency_ms: times[i]!, speedup, efficiency: speedup / r.ideal_speedup, speedup_of_min: times[0]!.min / times[i]!.min };
    });
  for (const [runtime, provider] of [['onnxruntime', 'cpu'], ['onnxruntime-webgpu', 'webgpu']] as const) {
    if (!runtimes.includes(runtime)) continue;
    try {
      // The WebGPU provider runs on the same adapter as ours, as slowly: it keeps --repeats.
      const n = provider === 'cpu' ? otherRepeats : repeats;
      const t = await timeOnnxRuntime(checkpoints, hostInputs, { provider, warmup, repeats: n });
      record(runtime, t.results);
      report.runtimes[runtime] = `${t.description}; ${warmup} warm-up + ${n} timed runs per model`;
    } catch (err) {
      // A provider this build or adapter lacks is reported, not fatal: the other runtimes stand.
      if (provider === 'cpu') throw err;
      notes.push(`${runtime}: not measured (${(err as Error).message})`);
    }
  }
  const torch = options.torch ?? (runtimes.includes('torch') ? {} : undefined);
  if (torch) {
    const t = await runTorchBench(baseRows, { ...torch, warmup, repeats: otherRepeats, roundRobin: true });
    const { results, ...meta } = t;
    report.torch = meta;
    report.runtimes.torch = `torch ${meta.torch_version}, eager, fp32 (TF32 off), on ${meta.device_name}; ${warmup} warm-up + ${otherRepeats} timed runs per model`;
    const denseTorch = results[rows[0]!.name]!.fp32.median;
    baseRows.forEach((r) => {
      const res = results[r.name]!;
      r.torch_result = { fp32_ms: res.fp32, fp16_ms: res.fp16, ours_over_fp32: r.latency_ms.median / res.fp32.median, torch_speedup_fp32: denseTorch / res.fp32.median };
    });
    record('torch', baseRows.map((r) => results[r.name]!.fp32));
  }
  return report;
}

const f2 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** The report as a markdown table with its notes. */
export function speedupTable(report: SpeedupReport): string {
  const torch = report.rows.some((r) => r.torch_result);
  const withStrategy = report.rows.some((r) => r.strategy === 'rank');
  const withDtype = new Set(report.rows.map((r) => r.dtype ?? 'f32')).size > 1;
  const head = [...(withDtype ? ['dtype'] : []), ...(withStrategy ? ['strategy'] : []), 'sparsity', 'achieved', 'params', 'GFLOPs', 'median ms', 'min ms', 'max ms', 'speedup', 'ideal', 'speedup/ideal'];
  if (withDtype) head.push('f32/this');
  if (torch) head.push('torch fp32 ms', 'ours/torch', 'torch speedup');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of report.rows) {
    const cells = [
      ...(withDtype ? [r.dtype] : []),
      ...(withStrategy ? [r.strategy] : []),
      `${(100 * r.sparsity).toFixed(1)}%${r.source === 'checkpoint' ? ' (checkpoint)' : ''}`,
      `${(100 * r.achieved_sparsity).toFixed(2)}%`,
      r.params.toLocaleString('en-US'),
      f2(r.flops / 1e9),
      f2(r.latency_ms.median),
      f2(r.latency_ms.min),
      f2(r.latency_ms.max),
      `${r.speedup.toFixed(2)}×`,
      `${r.ideal_speedup.toFixed(2)}×`,
      r.efficiency.toFixed(2),
    ];
    if (withDtype) cells.push(r.over_f32 === undefined ? '–' : `${r.over_f32.toFixed(2)}×`);
    if (torch && !r.torch_result) cells.push('–', '–', '–');
    else if (torch) {
      const t = r.torch_result!;
      cells.push(f2(t.fp32_ms.median), `${t.ours_over_fp32.toFixed(2)}×`, `${t.torch_speedup_fp32.toFixed(2)}×`);
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const t = report.timing;
  const notes = [
    `model ${report.model}, batch ${report.batch_size} × sequence ${report.seq_len}; device: ${report.device.description}, ${report.device.class} kernels (${report.device.class_reason})`,
    `timing: ${t.method}${t.quantized === null ? '' : t.quantized ? ' (quantised by Dawn)' : ' (unquantised)'}, ${t.warmup} warm-up + ${t.repeats} timed runs per model, round-robin`,
    ...report.notes,
    ...report.rows.filter((r) => r.dtype === report.rows[0]!.dtype).map((r) => `${r.strategy === 'rank' ? 'rank structure' : 'structure'} at ${(100 * r.sparsity).toFixed(1)}%: H=${r.structure.hidden_size} heads=[${r.structure.heads.join(',')}] ffn=[${r.structure.intermediate.join(',')}]${r.structure.ranks ? ` ranks=${JSON.stringify(r.structure.ranks)}` : ''}`),
  ];
  if (report.torch) notes.push(`torch ${report.torch.torch_version} on ${report.torch.device_name}, TF32 ${report.torch.tf32 ? 'on' : 'off'} (eager, fp32)`);
  return `${lines.join('\n')}\n${runtimeTable(report)}\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
}

/** Display names of the runtimes (tables and the plot). */
const RUNTIME_LABEL: Record<SpeedupRuntime, string> = { webprune: 'webprune', onnxruntime: 'ONNX Runtime CPU', 'onnxruntime-webgpu': 'ONNX Runtime WebGPU', torch: 'PyTorch fp32' };

/**
 * With more than one runtime: speedup over each runtime's own dense model, its fraction of the ideal
 * and its median latency, one column per runtime ('' otherwise).
 */
export function runtimeTable(report: SpeedupReport): string {
  const names = SPEEDUP_RUNTIMES.filter((n) => report.rows.some((r) => r.runtimes?.[n]));
  if (names.length < 2) return '';
  const head = ['sparsity', 'ideal', ...names.map((n) => RUNTIME_LABEL[n])];
  const lines = ['', 'Speedup over the dense model in each runtime, of medians (its fraction of the ideal; median latency) [of minima]:', '', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of report.rows) {
    const cells = names.map((n) => {
      const x = r.runtimes[n];
      return x ? `${x.speedup.toFixed(2)}× (${x.efficiency.toFixed(2)}) ${f2(x.latency_ms.median)} ms [${x.speedup_of_min.toFixed(2)}×]` : '–';
    });
    lines.push(`| ${(100 * r.sparsity).toFixed(1)}%${r.source === 'checkpoint' ? ' (checkpoint)' : r.strategy === 'rank' ? ' (rank)' : ''} | ${r.ideal_speedup.toFixed(2)}× | ${cells.join(' | ')} |`);
  }
  const described = names.map((n) => `${RUNTIME_LABEL[n]}: ${report.runtimes?.[n] ?? ''}`);
  return `${lines.join('\n')}\n\n${described.map((d) => `- ${d}`).join('\n')}\n`;
}

/** The vega-lite spec of the speedup plot: measured speedup against sparsity, with the ideal. */
export function speedupChartSpec(report: SpeedupReport): Record<string, unknown> {
  // The first dtype's rows (the plot compares structures, not precisions).
  const drawn = report.rows.filter((r) => r.source === 'drawn' && r.dtype === report.rows[0]!.dtype);
  const withRank = drawn.some((r) => r.strategy === 'rank');
  // The dense row starts every strategy's lines; one line per runtime ('measured' is webprune's), beside the ideal.
  const rowsOf = (strategy: SpeedupStrategy) => drawn.filter((r) => r.strategy === 'dense' || r.strategy === strategy);
  const others = SPEEDUP_RUNTIMES.filter((n) => n !== 'webprune');
  const runtimeSeries = (n: SpeedupRuntime, strategy: SpeedupStrategy) => (withRank && strategy === 'rank' ? `${RUNTIME_LABEL[n]} (rank)` : RUNTIME_LABEL[n]);
  const values = (withRank ? (['structured', 'rank'] as const) : (['structured'] as const)).flatMap((strategy) => rowsOf(strategy).flatMap((r) => [
    { sparsity: r.sparsity, speedup: r.speedup, series: withRank ? `measured (${strategy})` : 'measured' },
    { sparsity: r.sparsity, speedup: r.ideal_speedup, series: withRank ? `ideal (${strategy})` : 'ideal (FLOPs)' },
    ...others.filter((n) => r.runtimes?.[n]).map((n) => ({ sparsity: r.sparsity, speedup: r.runtimes[n]!.speedup, series: runtimeSeries(n, strategy) })),
  ]));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `Speedup of compacted ${report.model} over dense`, subtitle: `batch ${report.batch_size} × ${report.seq_len}, ${report.device.description}` },
    width: 420,
    height: 280,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'sparsity', type: 'quantitative', title: 'sparsity (prunable encoder params removed)', axis: { format: '%' } },
      y: { field: 'speedup', type: 'quantitative', title: 'speedup over dense (×)', scale: { type: 'log' } },
      color: { field: 'series', type: 'nominal', title: null },
      strokeDash: withRank
        ? { field: 'series', type: 'nominal', scale: { domain: ['measured (structured)', 'ideal (structured)', 'measured (rank)', 'ideal (rank)', ...others.map((n) => RUNTIME_LABEL[n])], range: [[1, 0], [6, 4], [1, 0], [6, 4], [2, 2], [4, 2], [1, 2]] }, legend: null }
        : { field: 'series', type: 'nominal', scale: { domain: ['measured', 'ideal (FLOPs)', ...others.map((n) => RUNTIME_LABEL[n])], range: [[1, 0], [6, 4], [2, 2], [4, 2], [1, 2]] }, legend: null },
    },
  };
}

/** Renders the speedup plot to SVG (vega-lite → vega, headless). */
export async function speedupSvg(report: SpeedupReport): Promise<string> {
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  // vega-lite's TopLevelSpec type is stricter than our plain object; the spec is checked by compile().
  const spec = compile(speedupChartSpec(report) as unknown as Parameters<typeof compile>[0]).spec;
  return new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG();
}

/**
 * Writes OUT/speedup.json, OUT/speedup.md and OUT/speedup.svg (creating OUT).
 * @returns the paths written
 */
export async function writeSpeedupOutputs(report: SpeedupReport, outDir: string): Promise<string[]> {
  makeDirectory(outDir);
  const files = { json: path.join(outDir, 'speedup.json'), md: path.join(outDir, 'speedup.md'), svg: path.join(outDir, 'speedup.svg') };
  fs.writeFileSync(files.json, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(files.md, speedupTable(report));
  fs.writeFileSync(files.svg, await speedupSvg(report));
  return Object.values(files);
}
