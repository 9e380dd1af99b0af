/**
 * Kernel microbenchmarks: GEMMs at BERT's shapes (and at the uneven shapes pruning leaves),
 * batched attention products, softmax, layer norm, GELU and a whole training step, each with its
 * GFLOP/s, GB/s, and fractions of the compute and bandwidth peaks measured in the same run.
 *
 * Rows are KernelCase values in a table (kernelCases). A new row is one more entry: for an op on
 * random inputs, `opCase({ name, kind, shape, inputs, flops, bytes, record })`, where `record`
 * records the op on the inputs (a fused masked-attention kernel, say, with its own inputs and
 * counts); add `torch` to have torch_bench.py time the same thing.
 *
 * Kernel variants: every row runs with the engine's device class (CPU or GPU kernels, see
 * engine/runtime/device_class.ts); the peak GEMM also runs with the other class, so each report
 * compares the two on its adapter; `variants: 'both'` runs every row with both, interleaved.
 *
 * Conventions: FLOPs count a multiply-add as 2 (matrix products only, plus the nominal per-element
 * counts stated per op); bytes are the inputs read once plus the outputs written once (the least
 * traffic the op needs), 4 bytes per f32.
 */
import * as E from '../engine/index.ts';
import type { DeviceClass, Shape, Tensor } from '../engine/index.ts';
import { Bert, parameterShapes } from '../models/bert.ts';
import { type BertConfig, type ModelSizeName, configToJson, namedConfig } from '../models/config.ts';
import { classifierForwardFlops } from './flops.ts';
import { type TorchOp, type TorchReport, type TorchRunOptions, runTorchBench } from './torch.ts';
import { GpuTimer, type Recorder, type TimingMethod, type TimingStats, initBenchEngine, randomTensor, randomValues, rotationCopies } from './timer.ts';
import { maskedAttention } from '../models/ops/masked_attention.ts';
import { maskedFfn } from '../models/ops/masked_ffn.ts';
import { K } from '../engine/kernels/index.ts';

const K_FILL = K.fill;

/** A recorder with the resources it holds. */
export interface PreparedCase {
  run: Recorder;
  dispose(): void;
}

/** One row of the kernel benchmark. */
export interface KernelCase {
  /** Unique name of the row. */
  name: string;
  /** Family: 'gemm', 'bmm', 'softmax', 'layer_norm', 'gelu', 'copy', 'train_step', ... */
  kind: string;
  /** Human-readable shape. */
  shape: string;
  /** FLOPs of one run. */
  flops: number;
  /** Bytes of one run (inputs read once + outputs written once). */
  bytes: number;
  /** This row defines the run's compute or bandwidth peak. */
  peak?: 'compute' | 'bandwidth';
  /** How torch_bench.py times the same thing. */
  torch?: TorchOp;
  /** Report the buffer pool's peak bytes in use during the row (training steps). */
  reportMemory?: boolean;
  /** Allocates inputs (seeded) and returns the recorder. */
  prepare(seed: number): PreparedCase;
}

/**
 * A row for an op on random f32 inputs of the given shapes, rotated among rotationCopies(bytes)
 * copies; `record` records the op (its outputs are freed after each run).
 */
export function opCase(
  c: Omit<KernelCase, 'prepare'> & {
    inputs: Shape[];
    /** Inputs that are not random (masks, z): made once per row, not rotated. */
    fixed?: (seed: number) => Tensor[];
    record: (xs: Tensor[], fixed: Tensor[]) => unknown;
  },
): KernelCase {
  const { inputs, fixed, record, ...rest } = c;
  return {
    ...rest,
    prepare(seed) {
      const copies = rotationCopies(c.bytes);
      const sets = Array.from({ length: copies }, (_, k) => inputs.map((s, j) => E.keep(randomTensor(s, seed + 1000 * k + j))));
      const constant = (fixed?.(seed) ?? []).map((t) => E.keep(t));
      return {
        run: (i) => E.tidy(() => void record(sets[i % copies]!, constant)),
        dispose: () => [...sets.flat(), ...constant].forEach((t) => t.dispose()),
      };
    },
  };
}

const F32 = 4;
const GB = 1e9;

/** x[M, K] · W[N, K]ᵀ + b: a Linear layer on M tokens. FLOPs 2MNK, bytes 4(MK + NK + N + MN). */
export function linearCase(name: string, M: number, N: number, K: number): KernelCase {
  return opCase({
    name,
    kind: 'gemm',
    shape: `${M}×${N}×${K}`,
    flops: 2 * M * N * K,
    bytes: F32 * (M * K + N * K + N + M * N),
    torch: { op: 'linear', m: M, n: N, k: K },
    inputs: [[M, K], [N, K], [N]],
    record: ([x, w, b]) => E.matmul(x!, w!, { transB: true, bias: b! }),
  });
}

/**
 * Attention's batched products at [B, h, S, d]: scores QKᵀ → [B, h, S, S] and context P·V →
 * [B, h, S, d]; each 2·B·h·S²·d FLOPs.
 */
export function attentionCases(B: number, h: number, S: number, d: number): KernelCase[] {
  const n = B * h;
  return [
    opCase({
      name: `QKᵀ [${B},${h},${S},${d}]`,
      kind: 'bmm',
      shape: `${n}×(${S}×${S}×${d})`,
      flops: 2 * n * S * S * d,
      bytes: F32 * n * (2 * S * d + S * S),
      torch: { op: 'bmm', batch: [B, h], m: S, n: S, k: d, trans_b: true },
      inputs: [[B, h, S, d], [B, h, S, d]],
      record: ([q, k]) => E.matmul(q!, k!, { transB: true }),
    }),
    opCase({
      name: `PV [${B},${h},${S},${d}]`,
      kind: 'bmm',
      shape: `${n}×(${S}×${d}×${S})`,
      flops: 2 * n * S * S * d,
      bytes: F32 * n * (S * S + 2 * S * d),
      torch: { op: 'bmm', batch: [B, h], m: S, n: d, k: S, trans_b: false },
      inputs: [[B, h, S, S], [B, h, S, d]],
      record: ([p, v]) => E.matmul(p!, v!),
    }),
  ];
}

/**
 * The fused masked attention (models/ops/masked_attention.ts) on q, k, v [B, S, h·d] with `active` of h
 * heads kept by head_z (the others skipped), forward only. FLOPs 4·B·active·S²·d (QKᵀ and PV of the
 * active heads); bytes 4·(3·B·S·active·d read + B·S·h·d written). PyTorch runs
 * scaled_dot_product_attention over the active heads alone, as a compacted model would.
 */
export function maskedAttentionCase(B: number, h: number, S: number, d: number, active: number): KernelCase {
  const A = h * d;
  return opCase({
    name: `masked attention ${active}/${h} heads [${B},${S},${h}×${d}]`,
    kind: 'attention',
    shape: `${B}×${active}×(${S}×${S}×${d})`,
    flops: 4 * B * active * S * S * d,
    bytes: F32 * (3 * B * S * active * d + B * S * A),
    torch: { op: 'attention', batch: B, heads: active, seq: S, dim: d },
    inputs: [[B, S, A], [B, S, A], [B, S, A]],
    fixed: () => [E.tensor(Array.from({ length: h }, (_, i) => (i < active ? 1 : 0)), [h]), E.zeros([B, S])],
    record: ([q, k, v], [headZ, mask]) => maskedAttention(q!, k!, v!, { heads: h, mask: mask!, headZ: headZ!, dropout: 0, training: false }),
  });
}

/**
 * The masked FFN (models/ops/masked_ffn.ts), gelu(x·W1ᵀ + b1)⊙z·W2ᵀ + b2 on T tokens with `active`
 * of I units kept by intermediate_z (the others skipped on the GPU), forward only.
 * FLOPs 4·T·H·active; bytes 4·(T·H + 2·active·H + active + H + T·H). PyTorch runs the dense FFN
 * of width `active`, as a compacted model would.
 */
export function maskedFfnCase(T: number, H: number, I: number, active: number): KernelCase {
  return opCase({
    name: `masked FFN ${active}/${I} units T=${T} H=${H}`,
    kind: 'ffn',
    shape: `${T}×${H}×${active}`,
    flops: 4 * T * H * active,
    bytes: F32 * (2 * T * H + 2 * active * H + active + H),
    torch: { op: 'ffn', m: T, h: H, n: active },
    inputs: [[T, H], [I, H], [I], [H, I], [H]],
    // Active units spread over the width, as pruning leaves them.
    fixed: (seed) => {
      const chosen = new Set(new E.HostRandom(seed + 77).shuffle([...Array(I).keys()]).slice(0, active));
      return [E.tensor(Array.from({ length: I }, (_, i) => (chosen.has(i) ? 1 : 0)), [I])];
    },
    record: ([x, w1, b1, w2, b2], [z]) => maskedFfn(x!, w1!, b1!, w2!, b2!, z!),
  });
}

/** Masked softmax over attention scores [B, h, S, S] with an additive mask [B, 1, 1, S]; 5 FLOPs per element (max, subtract, exp, sum, divide). */
export function softmaxCase(B: number, h: number, S: number): KernelCase {
  const n = B * h * S * S;
  return opCase({
    name: `softmax [${B},${h},${S},${S}]`,
    kind: 'softmax',
    shape: `${B}×${h}×${S}×${S}`,
    flops: 5 * n,
    bytes: F32 * (2 * n + B * S),
    torch: { op: 'softmax', shape: [B, h, S, S], mask_shape: [B, 1, 1, S] },
    inputs: [[B, h, S, S], [B, 1, 1, S]],
    record: ([x, m]) => E.softmax(x!, { mask: m! }),
  });
}

/** Layer norm over [rows, cols] with gamma and beta; 8 FLOPs per element (mean, variance, normalise, scale, shift). */
export function layerNormCase(rows: number, cols: number): KernelCase {
  return opCase({
    name: `layer_norm [${rows},${cols}]`,
    kind: 'layer_norm',
    shape: `${rows}×${cols}`,
    flops: 8 * rows * cols,
    bytes: F32 * (2 * rows * cols + 2 * cols),
    torch: { op: 'layer_norm', rows, cols, eps: 1e-12 },
    inputs: [[rows, cols], [cols], [cols]],
    record: ([x, g, b]) => E.layerNorm(x!, g!, b!, { eps: 1e-12 }),
  });
}

/** GELU (erf form) over [rows, cols]; 8 FLOPs per element, counting erf as one. */
export function geluCase(rows: number, cols: number): KernelCase {
  return opCase({
    name: `gelu [${rows},${cols}]`,
    kind: 'gelu',
    shape: `${rows}×${cols}`,
    flops: 8 * rows * cols,
    bytes: F32 * 2 * rows * cols,
    torch: { op: 'gelu', shape: [rows, cols] },
    inputs: [[rows, cols]],
    record: ([x]) => E.gelu(x!),
  });
}

/** A device-to-device copy of `bytes` bytes: the bandwidth peak (read + write = 2·bytes). */
export function copyCase(bytes: number): KernelCase {
  const n = Math.ceil(bytes / F32);
  return {
    name: `copy ${formatBytes(n * F32)}`,
    kind: 'copy',
    shape: `${n * F32} B`,
    flops: 0,
    bytes: 2 * n * F32,
    peak: 'bandwidth',
    torch: { op: 'copy', bytes: n * F32 },
    prepare(seed) {
      const src = E.keep(randomTensor([n], seed));
      const dst = E.keep(E.zeros([n]));
      const queue = E.getEngine().queue;
      return { run: () => queue.copy(src.buffer, 0, dst.buffer, 0, n * F32), dispose: () => [src, dst].forEach((t) => t.dispose()) };
    },
  };
}

/**
 * One training step of a sequence classifier (forward with dropout, cross-entropy, backward,
 * AdamW with weight decay and clipping) on random token ids. FLOPs: 3 × the forward's matrix
 * products (flops.ts classifierForwardFlops; backward is twice the forward). Bytes: the least
 * parameter traffic, 4·P·10 (forward reads P, backward reads P and writes the gradients, AdamW
 * reads parameters, gradients and both moments and writes three of them).
 */
export function trainStepCase(name: string, config: BertConfig, batch: number, seq: number): KernelCase {
  const P = [...parameterShapes(config, 'classification').values()].reduce((s, shape) => s + E.sizeOf(shape), 0);
  return {
    name,
    kind: 'train_step',
    shape: `B=${batch} S=${seq} L${config.numLayers} H${config.hiddenSize}`,
    flops: 3 * classifierForwardFlops(config, batch, seq),
    bytes: F32 * 10 * P,
    reportMemory: true,
    torch: { op: 'bert_train_step', config: configToJson(config), batch, seq },
    prepare(seed) {
      const model = Bert.random(config, 'classification', seed);
      const opt = new E.AdamW([{ params: model.parameters(), lr: 1e-5, weightDecay: 0.01 }], { maxGradNorm: 1 });
      const sets = bertInputs(config, batch, seq, 4, seed);
      return {
        run: (i) =>
          E.tidy(() => {
            const s = sets[i % sets.length]!;
            const { logits } = model.classify(s, { training: true });
            E.backward(E.crossEntropy(logits, s.labels));
            opt.step();
            opt.zeroGrad();
          }),
        dispose: () => {
          opt.dispose();
          model.dispose();
          for (const s of sets) for (const t of Object.values(s)) t.dispose();
        },
      };
    },
  };
}

/** Random classifier inputs: `copies` sets of token ids in [1, vocab), segment ids 0, a padding mask with lengths in [S/2, S], labels. */
export function bertInputs(config: BertConfig, batch: number, seq: number, copies: number, seed: number) {
  return Array.from({ length: copies }, (_, k) => {
    const r = randomValues(batch * seq + 2 * batch, seed + 7919 * k);
    const u = (i: number) => (r[i]! + 1) / 2; // [0, 1)
    const ids = Int32Array.from({ length: batch * seq }, (_, i) => 1 + Math.floor(u(i) * (config.vocabSize - 1)));
    const mask = new Float32Array(batch * seq);
    for (let b = 0; b < batch; b++) {
      const len = Math.ceil(seq / 2) + Math.floor(u(batch * seq + b) * (seq - Math.ceil(seq / 2) + 1));
      mask.fill(1, b * seq, b * seq + Math.min(seq, len));
    }
    const labels = Int32Array.from({ length: batch }, (_, b) => Math.floor(u(batch * seq + batch + b) * config.numLabels) % config.numLabels);
    return {
      inputIds: E.keep(E.tensor(ids, [batch, seq], 'i32')),
      tokenTypeIds: E.keep(E.tensor(new Int32Array(batch * seq), [batch, seq], 'i32')),
      attentionMask: E.keep(E.tensor(mask, [batch, seq])),
      labels: E.keep(E.tensor(labels, [batch], 'i32')),
    };
  });
}

/** Sizes of the benchmark sets: `tiny` and `small` finish on lavapipe in CI time, `base` is for GPUs. */
export type KernelBenchSize = 'tiny' | 'small' | 'base';
export const KERNEL_BENCH_SIZES: readonly KernelBenchSize[] = ['tiny', 'small', 'base'];

interface SizeSet {
  /** Token counts (batch × seq) and the models whose Linear shapes run at them. */
  tokens: Array<{ batch: number; seq: number; models: ModelSizeName[] }>;
  /** Uneven GEMMs at this token count and hidden size. */
  uneven: { tokens: number; hidden: number };
  /** Attention shapes [B, h, S, d]. */
  attention: Array<[number, number, number, number]>;
  train: { model: ModelSizeName; batch: number; seq: number };
  peakGemm: [number, number, number];
  peakCopyBytes: number;
}

const SIZE_SETS: Record<KernelBenchSize, SizeSet> = {
  tiny: {
    tokens: [{ batch: 4, seq: 64, models: ['tiny', 'mini'] }],
    uneven: { tokens: 256, hidden: 256 },
    attention: [
      [4, 2, 64, 64],
      [4, 4, 64, 64],
    ],
    train: { model: 'tiny', batch: 4, seq: 64 },
    peakGemm: [1024, 1024, 1024],
    peakCopyBytes: 64 * 2 ** 20,
  },
  small: {
    tokens: [{ batch: 8, seq: 128, models: ['mini', 'small'] }],
    uneven: { tokens: 1024, hidden: 512 },
    attention: [
      [8, 4, 128, 64],
      [8, 8, 128, 64],
    ],
    train: { model: 'small', batch: 4, seq: 64 },
    peakGemm: [2048, 2048, 1024],
    peakCopyBytes: 128 * 2 ** 20,
  },
  base: {
    tokens: [
      { batch: 32, seq: 128, models: ['base'] },
      { batch: 128, seq: 128, models: ['base'] },
    ],
    uneven: { tokens: 4096, hidden: 768 },
    attention: [
      [32, 12, 128, 64],
      [128, 12, 128, 64],
    ],
    train: { model: 'base', batch: 32, seq: 128 },
    peakGemm: [4096, 4096, 4096],
    peakCopyBytes: 512 * 2 ** 20,
  },
};

/**
 * The rows of a size set, peaks first: the peak GEMM and copy, the Linear GEMMs of each model
 * (QKV/output H×H, FFN in H→I, FFN out I→H) at each token count, uneven GEMMs beside their
 * tile-multiple neighbours (7 heads · 64 = 448 between 384 and 512; 1317 FFN units between 1280 and
 * 1344, as N and as K), attention products, softmax, layer norm and GELU at the largest shapes, and
 * a training step.
 * @throws Error for an unknown size
 */
export function kernelCases(size: KernelBenchSize): KernelCase[] {
  const set = SIZE_SETS[size];
  if (!set) throw new Error(`unknown bench size "${size}" (known: ${KERNEL_BENCH_SIZES.join(', ')})`);
  const [pm, pn, pk] = set.peakGemm;
  const peakGemm = { ...linearCase(`peak GEMM ${pm}×${pn}×${pk}`, pm, pn, pk), peak: 'compute' as const };
  const cases: KernelCase[] = [peakGemm, copyCase(set.peakCopyBytes)];
  for (const t of set.tokens) {
    const T = t.batch * t.seq;
    for (const m of t.models) {
      const c = namedConfig(m);
      const H = c.hiddenSize;
      const I = c.intermediateSize;
      cases.push(linearCase(`${m} QKV/O T=${T}`, T, H, H), linearCase(`${m} FFN in T=${T}`, T, I, H), linearCase(`${m} FFN out T=${T}`, T, H, I));
    }
  }
  const { tokens: T, hidden: H } = set.uneven;
  for (const n of [384, 448, 512]) cases.push(linearCase(`heads N=${n}${n === 448 ? ' (7·64)' : ''}`, T, n, H));
  for (const n of [1280, 1317, 1344]) cases.push(linearCase(`FFN in N=${n}`, T, n, H));
  for (const k of [1280, 1317, 1344]) cases.push(linearCase(`FFN out K=${k}`, T, H, k));
  for (const [B, h, S, d] of set.attention) cases.push(...attentionCases(B, h, S, d));
  const [B, h, S, d] = set.attention[set.attention.length - 1]!;
  for (const active of [...new Set([h, Math.ceil(h / 2), 1])]) cases.push(maskedAttentionCase(B, h, S, d, active));
  const big = set.tokens[set.tokens.length - 1]!;
  const bigModel = namedConfig(big.models[big.models.length - 1]!);
  const I = bigModel.intermediateSize;
  for (const active of [I, Math.round(I / 2), Math.round(I / 10)]) cases.push(maskedFfnCase(big.batch * big.seq, bigModel.hiddenSize, I, active));
  cases.push(softmaxCase(B, h, S), layerNormCase(big.batch * big.seq, bigModel.hiddenSize), geluCase(big.batch * big.seq, bigModel.intermediateSize));
  cases.push(trainStepCase(`train step ${set.train.model}`, namedConfig(set.train.model), set.train.batch, set.train.seq));
  return cases;
}

/** One measured row. */
export interface KernelRow {
  name: string;
  /** Kernel variants the row ran with. */
  variant: DeviceClass;
  kind: string;
  shape: string;
  flops: number;
  bytes: number;
  /** By the report's timing method (ms). */
  time_ms: TimingStats;
  /** Record + submit + wait, whatever the method (ms). */
  wall_ms: TimingStats;
  /** Process CPU time per run (ms): the driver's work on a CPU adapter, robust to other load. */
  cpu_ms: TimingStats;
  /** flops / median time. */
  gflops: number;
  /** bytes / median time (GB = 10⁹ bytes). */
  gbps: number;
  /** gflops / the compute peak of this run. */
  frac_peak_flops: number;
  /** gbps / the bandwidth peak of this run. */
  frac_peak_bw: number;
  /** The buffer pool's peak bytes in use during the row (training steps). */
  peak_memory_bytes?: number;
  /** Descriptor for torch_bench.py. */
  torch?: TorchOp;
  /** PyTorch's times, and ours over theirs (median / median), with --torch. */
  torch_result?: { fp32_ms: TimingStats; fp16_ms: TimingStats | null; ours_over_fp32: number; ours_over_fp16: number | null; peak_memory_bytes: number | null };
}

export interface DeviceInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The engine's device class while the bench ran, and why (runtime/device_class.ts). */
  class: DeviceClass;
  class_reason: string;
}

/** Launch cost of a dispatch measured in the run (see measureDispatchCost). */
export interface DispatchCost {
  /** Dispatches timed per measurement. */
  dispatches: number;
  /** GPU time per dispatch of a trivial kernel recorded in one shared compute pass (µs). */
  in_pass_us: number;
  /** The same, each dispatch in a compute pass of its own (µs). */
  own_pass_us: number;
  /** Host time to record, submit and wait, per dispatch in one pass (µs). */
  host_us: number;
}

export interface KernelReport {
  command: 'bench kernels';
  size: KernelBenchSize;
  device: DeviceInfo;
  timing: { method: TimingMethod; quantized: boolean | null; warmup: number; repeats: number };
  /**
   * The run's peaks: the compute peak row's GFLOP/s and the bandwidth peak row's GB/s. Both rows are
   * measured first and again last (`measured`: median ms of each time); the faster one counts.
   * When the two differ much, the machine's load changed during the run, and fractions of peak
   * of rows in between (which may then exceed 1) are unreliable.
   */
  peaks: { gflops: number; gbps: number; compute_row: string; bandwidth_row: string; measured: Array<{ row: string; first_ms: number; last_ms: number }> };
  rows: KernelRow[];
  /** Measured launch overhead of a dispatch on this adapter. */
  dispatch_cost: DispatchCost;
  torch?: Omit<TorchReport, 'results'>;
}

export interface KernelBenchOptions {
  size: KernelBenchSize;
  repeats?: number;
  warmup?: number;
  seed?: number;
  /** Force wall-clock timing. */
  wallClock?: boolean;
  /** Keep only the rows whose names pass (the peak rows always run). */
  filter?: (c: KernelCase) => boolean;
  /**
   * Kernel variants per row: 'auto' (default) the engine's class, and both classes for the peak
   * GEMM; 'both' every row with both (interleaved); or one class for every row.
   */
  variants?: 'auto' | 'both' | DeviceClass;
  /** Run torch_bench.py on the same rows. */
  torch?: Omit<TorchRunOptions, 'warmup' | 'repeats'>;
  /** Progress: after every run, with the row being measured. */
  onProgress?: (done: number, total: number, row: string) => void;
}

/** The device fields of a report. */
export function deviceInfo(engine = E.getEngine()): DeviceInfo {
  const d = engine.gpu.description;
  const reason = engine.deviceClass === engine.deviceClassChoice.deviceClass ? engine.deviceClassChoice.reason : 'set on the engine';
  return { vendor: d.vendor, architecture: d.architecture, device: d.device, description: d.description, class: engine.deviceClass, class_reason: reason };
}

/** The other device class. */
function otherClass(c: DeviceClass): DeviceClass {
  return c === 'cpu' ? 'gpu' : 'cpu';
}

/**
 * Launch cost of a dispatch: `count` dispatches of a trivial kernel (a 64-element fill) recorded
 * as one region, once in a single compute pass and once with a pass per dispatch; GPU time per
 * dispatch (wall clock without timestamps) and host time per dispatch.
 */
export async function measureDispatchCost(timer: GpuTimer, count = 200, repeats = 3): Promise<DispatchCost> {
  const engine = timer.engine;
  const out = E.keep(E.zeros([64]));
  const fill = (ownPass: boolean) => () => {
    for (let i = 0; i < count; i++) {
      if (ownPass) engine.queue.endPass();
      E.launch(K_FILL, { defines: { T: 'f32' }, tensors: { out }, uniforms: { params: { n: 64, bits: 0 } }, workgroups: [1] });
    }
  };
  try {
    const [shared, own] = await timer.timeInterleaved([fill(false), fill(true)], { warmup: 1, repeats });
    return { dispatches: count, in_pass_us: (1000 * shared!.median) / count, own_pass_us: (1000 * own!.median) / count, host_us: (1000 * shared!.wall.median) / count };
  } finally {
    out.dispose();
  }
}

/**
 * Measures the rows of a size set (kernelCases) one after another and reports them with the
 * run's peaks. Opens the engine (initBenchEngine) if needed; poisoning of fresh outputs is off
 * while it runs.
 * @throws Error for an unknown size, bad warmup/repeats, a failing row, or (with torch) a failing
 *   torch_bench.py
 */
export async function runKernelBench(options: KernelBenchOptions): Promise<KernelReport> {
  const engine = await initBenchEngine();
  const warmup = options.warmup ?? 2;
  const repeats = options.repeats ?? 5;
  const seed = options.seed ?? 0;
  const active = engine.deviceClass;
  const variantsOf = (c: KernelCase): DeviceClass[] => {
    const v = options.variants ?? 'auto';
    if (v === 'both') return [active, otherClass(active)];
    if (v !== 'auto') return [v];
    return c.peak === 'compute' ? [active, otherClass(active)] : [active];
  };
  const cases = kernelCases(options.size).filter((c) => c.peak || !options.filter || options.filter(c));
  const timer = new GpuTimer(engine, options.wallClock ? 'wall' : 'auto');
  const poison = engine.poison;
  engine.poison = false;
  interface Measured { c: KernelCase; variant: DeviceClass; time: TimingStats; wall: TimingStats; cpu: TimingStats; peakMemory?: number }
  const measured: Measured[] = [];
  const repeatedPeaks: Array<{ row: string; first_ms: number; last_ms: number }> = [];
  let done = 0;
  const total = (cases.reduce((n, c) => n + variantsOf(c).length, 0) + 2) * (warmup + repeats);
  let dispatchCost: DispatchCost;
  try {
    // Each variant's recorder switches the engine to its class, so interleaved runs alternate.
    const measure = async (c: KernelCase, variants: DeviceClass[]): Promise<Measured[]> => {
      const prepared = c.prepare(seed);
      try {
        await engine.sync();
        engine.pool.resetPeak();
        const runs = variants.map((v) => (i: number) => {
          engine.deviceClass = v;
          prepared.run(i);
        });
        const ms = await timer.timeInterleaved(runs, { warmup, repeats, onRun: () => options.onProgress?.(++done, total, c.name) });
        const peakMemory = c.reportMemory ? engine.pool.stats().peakInUseBytes : undefined;
        return ms.map((m, i) => ({ c, variant: variants[i]!, time: m as TimingStats, wall: m.wall, cpu: m.cpu, peakMemory }));
      } finally {
        engine.deviceClass = active;
        prepared.dispose();
      }
    };
    for (const c of cases) measured.push(...(await measure(c, variantsOf(c))));
    // The peaks again at the end: on a shared machine the load may have changed during the run.
    // Each peak row keeps its faster measurement; both are reported.
    for (const m of measured.filter((x) => x.c.peak && x.variant === active)) {
      const [again] = await measure(m.c, [active]);
      const first = m.time.median;
      if (again!.time.median < first) Object.assign(m, again);
      repeatedPeaks.push({ row: m.c.name, first_ms: first, last_ms: again!.time.median });
    }
    dispatchCost = await measureDispatchCost(timer);
  } finally {
    engine.poison = poison;
    engine.deviceClass = active;
    timer.dispose();
  }
  const rate = (x: number, ms: number) => x / (ms * 1e-3) / GB;
  const computePeak = measured.find((m) => m.c.peak === 'compute' && m.variant === active)!;
  const bandwidthPeak = measured.find((m) => m.c.peak === 'bandwidth')!;
  const peakGflops = rate(computePeak.c.flops, computePeak.time.median);
  const peakGbps = rate(bandwidthPeak.c.bytes, bandwidthPeak.time.median);
  const rows: KernelRow[] = measured.map(({ c, variant, time, wall, cpu, peakMemory }) => {
    const gflops = rate(c.flops, time.median);
    const gbps = rate(c.bytes, time.median);
    const row: KernelRow = {
      name: c.name,
      variant,
      kind: c.kind,
      shape: c.shape,
      flops: c.flops,
      bytes: c.bytes,
      time_ms: time,
      wall_ms: wall,
      cpu_ms: cpu,
      gflops,
      gbps,
      frac_peak_flops: gflops / peakGflops,
      frac_peak_bw: gbps / peakGbps,
    };
    if (peakMemory !== undefined) row.peak_memory_bytes = peakMemory;
    if (c.torch) row.torch = c.torch;
    return row;
  });
  const report: KernelReport = {
    command: 'bench kernels',
    size: options.size,
    device: deviceInfo(engine),
    timing: { method: timer.method, quantized: timer.quantized, warmup, repeats },
    peaks: { gflops: peakGflops, gbps: peakGbps, compute_row: computePeak.c.name, bandwidth_row: bandwidthPeak.c.name, measured: repeatedPeaks },
    rows,
    dispatch_cost: dispatchCost!,
  };
  if (options.torch) {
    const withTorch = [...new Map(rows.filter((r) => r.torch).map((r) => [r.name, { name: r.name, torch: r.torch! }])).values()];
    const t = await runTorchBench(withTorch, { ...options.torch, warmup, repeats });
    const { results, ...meta } = t;
    report.torch = meta;
    for (const r of rows) {
      const res = results[r.name];
      if (!res) continue;
      r.torch_result = {
        fp32_ms: res.fp32,
        fp16_ms: res.fp16,
        ours_over_fp32: r.time_ms.median / res.fp32.median,
        ours_over_fp16: res.fp16 ? r.time_ms.median / res.fp16.median : null,
        peak_memory_bytes: res.peak_memory_bytes,
      };
    }
  }
  return report;
}

/** Formats a byte count with a binary unit (KiB, MiB, GiB). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

const fmt = (x: number, digits = 3) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(digits));

/** Rows measured with both kernel variants, by name. */
export function variantPairs(report: KernelReport): Map<string, Partial<Record<DeviceClass, KernelRow>>> {
  const byName = new Map<string, Partial<Record<DeviceClass, KernelRow>>>();
  for (const r of report.rows) byName.set(r.name, { ...byName.get(r.name), [r.variant]: r });
  return new Map([...byName].filter(([, p]) => p.cpu && p.gpu));
}

/** The report as a markdown table (one line per row). */
export function kernelTable(report: KernelReport): string {
  const torch = report.rows.some((r) => r.torch_result);
  const head = ['row', 'kernels', 'shape', 'median ms', 'min ms', 'max ms', 'CPU ms', 'GFLOP/s', 'GB/s', '% peak FLOP/s', '% peak GB/s'];
  if (torch) head.push('torch fp32 ms', 'ours/torch fp32', 'torch fp16 ms');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of report.rows) {
    const cells = [
      r.name,
      r.variant,
      r.shape,
      fmt(r.time_ms.median),
      fmt(r.time_ms.min),
      fmt(r.time_ms.max),
      fmt(r.cpu_ms.median),
      r.flops ? fmt(r.gflops) : '—',
      fmt(r.gbps),
      r.flops ? (100 * r.frac_peak_flops).toFixed(0) : '—',
      (100 * r.frac_peak_bw).toFixed(0),
    ];
    if (torch) {
      const t = r.torch_result;
      cells.push(t ? fmt(t.fp32_ms.median) : '—', t ? `${t.ours_over_fp32.toFixed(2)}×` : '—', t?.fp16_ms ? fmt(t.fp16_ms.median) : '—');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const t = report.timing;
  const dc = report.dispatch_cost;
  const notes = [
    `device: ${report.device.description} (${report.device.vendor}); ${report.device.class} kernels (${report.device.class_reason})`,
    `dispatch cost: ${dc.in_pass_us.toFixed(0)} µs per dispatch in a shared compute pass, ${dc.own_pass_us.toFixed(0)} µs with a pass of its own (GPU time of ${dc.dispatches} trivial dispatches); host ${dc.host_us.toFixed(0)} µs per dispatch to record, submit and wait`,
    `timing: ${t.method}${t.quantized === null ? '' : t.quantized ? ' (quantised by Dawn)' : ' (unquantised)'}, ${t.warmup} warm-up + ${t.repeats} timed runs`,
    `peaks of this run: ${fmt(report.peaks.gflops)} GFLOP/s (${report.peaks.compute_row}), ${fmt(report.peaks.gbps)} GB/s (${report.peaks.bandwidth_row}); each measured first and last (median ${report.peaks.measured.map((p) => `${fmt(p.first_ms)} / ${fmt(p.last_ms)} ms`).join(', ')}), the faster counts`,
  ];
  for (const [name, pair] of variantPairs(report)) {
    const [cpu, gpu] = [pair.cpu!, pair.gpu!];
    notes.push(`${name}: cpu kernels ${(gpu.time_ms.median / cpu.time_ms.median).toFixed(2)}× the speed of the gpu kernels (median ${fmt(cpu.time_ms.median)} vs ${fmt(gpu.time_ms.median)} ms; CPU time ${(gpu.cpu_ms.median / cpu.cpu_ms.median).toFixed(2)}×)`);
  }
  if (report.torch) notes.push(`torch ${report.torch.torch_version} on ${report.torch.device_name}, TF32 ${report.torch.tf32 ? 'on' : 'off'}`);
  const mem = report.rows.filter((r) => r.peak_memory_bytes !== undefined);
  for (const r of mem) {
    const tm = r.torch_result?.peak_memory_bytes;
    notes.push(`${r.name}: peak GPU memory ${formatBytes(r.peak_memory_bytes!)} (buffer pool)${tm ? `, torch ${formatBytes(tm)} (max_memory_allocated)` : ''}`);
  }
  return `${lines.join('\n')}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
}
