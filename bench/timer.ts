/**
 * GPU timing for the benchmarks: GPU timestamps around a recorded region when the device has the
 * 'timestamp-query' feature, wall-clock time around record + submit + wait otherwise.
 *
 * A timed thing is a *recorder*: a synchronous function that records GPU work (an op, a forward
 * pass, a training step) and frees its intermediates, e.g. `(i) => tidy(() => matmul(x[i % 4], w))`.
 * Each run is recorded with CommandQueue.region(), so with timestamps it is one unbroken stretch
 * of one command buffer and the time is its GPU execution alone; runs are separated by a wait for
 * the GPU, so the host never records while the GPU runs (on lavapipe both share the CPU).
 *
 * Dawn quantises timestamps (to defeat timing attacks) unless the instance is created with
 * 'disable-dawn-features=timestamp_quantization'; the benchmarks open the engine with it
 * (BENCH_DAWN_OPTIONS). An engine opened earlier without it keeps its instance: then timing falls
 * back to the wall clock unless timestamps are forced (GpuTimer's `prefer`), and reports say so.
 */
import { type Engine, type Tensor, getEngine, initEngine, tensor } from '../engine/index.ts';

/** The Dawn toggle that turns off timestamp quantisation. */
export const UNQUANTIZED_TIMESTAMPS = 'disable-dawn-features=timestamp_quantization';
/** Dawn options the benchmarks open the engine with. */
export const BENCH_DAWN_OPTIONS: readonly string[] = [UNQUANTIZED_TIMESTAMPS];

/**
 * Opens (or returns) the engine with BENCH_DAWN_OPTIONS. When the engine was already open (tests),
 * its options stay; GpuTimer.quantized tells which applies.
 * @throws NoAdapterError when no WebGPU adapter exists
 */
export async function initBenchEngine(): Promise<Engine> {
  return initEngine({ dawnOptions: [...BENCH_DAWN_OPTIONS] });
}

/** How times were taken. */
export type TimingMethod = 'gpu-timestamps' | 'wall-clock';

/** Summary of repeated timings, in milliseconds. */
export interface TimingStats {
  median: number;
  min: number;
  max: number;
}

/** One measured thing: stats by the timer's method, the wall-clock stats beside, and every sample. */
export interface Measurement extends TimingStats {
  method: TimingMethod;
  /** Wall-clock time of record + submit + wait for each timed run (ms), whatever the method. */
  wall: TimingStats;
  /**
   * Process CPU time (user + system, all threads) of each timed run (ms). On a CPU adapter the
   * driver's worker threads are in the process, so this is the work done, less sensitive to other
   * load on a shared machine than any clock.
   */
  cpu: TimingStats;
  /** Timed samples in run order (ms, by `method`). */
  samples: number[];
}

export interface TimeOptions {
  /** Untimed runs first (default 1: the first pass is dropped, as CoFi's latency evaluation does). */
  warmup?: number;
  /** Timed runs (default 5). */
  repeats?: number;
  /** Called after every run, warm-up included (progress bars). */
  onRun?: () => void;
}

/** A function that records GPU work for run number `iteration` (warm-up runs count from 0). */
export type Recorder = (iteration: number) => void;

/**
 * Median (mean of the two middle values for an even count), min and max.
 * @throws Error when `samples` is empty or holds a non-finite value
 */
export function summarize(samples: readonly number[]): TimingStats {
  if (samples.length === 0) throw new Error('summarize: no samples');
  if (samples.some((x) => !Number.isFinite(x))) throw new Error(`summarize: non-finite sample in [${samples.join(', ')}]`);
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

/** Times recorders on the current engine's GPU. */
export class GpuTimer {
  readonly method: TimingMethod;
  /**
   * Whether the timestamps are quantised by Dawn (the engine was opened without
   * UNQUANTIZED_TIMESTAMPS); null with wall-clock timing.
   */
  readonly quantized: boolean | null;
  private querySet: GPUQuerySet | null = null;
  private resolveBuffer: GPUBuffer | null = null;

  /**
   * @param prefer 'auto': GPU timestamps when the device has 'timestamp-query' and they are not
   *   quantised (quantised ones round short runs to zero), wall-clock otherwise; 'gpu': timestamps
   *   whenever the feature exists, quantised or not; 'wall': wall-clock
   * @throws Error when prefer is 'gpu' and the device has no 'timestamp-query'
   */
  constructor(
    readonly engine: Engine = getEngine(),
    prefer: 'auto' | 'gpu' | 'wall' = 'auto',
  ) {
    const has = engine.gpu.features.has('timestamp-query');
    if (prefer === 'gpu' && !has) throw new Error(`GpuTimer: the device (${engine.gpu.description.description}) has no 'timestamp-query' feature; use wall-clock timing`);
    const quantized = !engine.gpu.dawnOptions.includes(UNQUANTIZED_TIMESTAMPS);
    this.method = has && (prefer === 'gpu' || (prefer === 'auto' && !quantized)) ? 'gpu-timestamps' : 'wall-clock';
    this.quantized = this.method === 'gpu-timestamps' ? quantized : null;
  }

  /**
   * Times one recorder: `warmup` untimed runs, then `repeats` timed ones.
   * @throws Error when warmup < 0 or repeats < 1, when a run fails, or when the GPU reports a
   *   negative timestamp interval (or a zero one from unquantised timestamps)
   */
  async time(run: Recorder, options: TimeOptions = {}): Promise<Measurement> {
    return (await this.timeInterleaved([run], options))[0]!;
  }

  /**
   * Times several recorders round-robin (run 0 of each, then run 1 of each, ...), so that load
   * that drifts during the measurement (other processes on a shared machine) affects all alike:
   * ratios between them are then meaningful. Warm-up rounds come first.
   * @returns one Measurement per recorder, in order
   * @throws as time()
   */
  async timeInterleaved(runs: readonly Recorder[], options: TimeOptions = {}): Promise<Measurement[]> {
    const warmup = options.warmup ?? 1;
    const repeats = options.repeats ?? 5;
    if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`GpuTimer: warmup must be a non-negative integer (got ${warmup})`);
    if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`GpuTimer: repeats must be a positive integer (got ${repeats})`);
    const samples = runs.map(() => [] as number[]);
    const walls = runs.map(() => [] as number[]);
    const cpus = runs.map(() => [] as number[]);
    await this.engine.queue.sync();
    for (let it = 0; it < warmup + repeats; it++) {
      for (let r = 0; r < runs.length; r++) {
        const c0 = process.cpuUsage();
        const { gpu, wall } = await this.runOnce(runs[r]!, it);
        const c = process.cpuUsage(c0);
        if (it >= warmup) {
          samples[r]!.push(gpu ?? wall);
          walls[r]!.push(wall);
          cpus[r]!.push((c.user + c.system) / 1000);
        }
        options.onRun?.();
      }
    }
    return runs.map((_, r) => ({ ...summarize(samples[r]!), method: this.method, wall: summarize(walls[r]!), cpu: summarize(cpus[r]!), samples: samples[r]! }));
  }

  /** Releases the query set and its buffer. */
  dispose(): void {
    this.querySet?.destroy();
    this.resolveBuffer?.destroy();
    this.querySet = null;
    this.resolveBuffer = null;
  }

  private async runOnce(run: Recorder, iteration: number): Promise<{ gpu: number | null; wall: number }> {
    const queue = this.engine.queue;
    const t0 = performance.now();
    if (this.method === 'wall-clock') {
      run(iteration);
      await queue.sync();
      return { gpu: null, wall: performance.now() - t0 };
    }
    this.querySet ??= this.engine.device.createQuerySet({ type: 'timestamp', count: 2 });
    this.resolveBuffer ??= this.engine.device.createBuffer({ size: 256, usage: 0x0200 /* QUERY_RESOLVE */ | 0x0004 /* COPY_SRC */ });
    queue.region(() => run(iteration), { querySet: this.querySet, beginIndex: 0, endIndex: 1 });
    queue.resolveQueries(this.querySet, 0, 2, this.resolveBuffer, 0);
    const ticks = new BigUint64Array(await queue.read(this.resolveBuffer, 16));
    const wall = performance.now() - t0;
    const ns = Number(ticks[1]! - ticks[0]!);
    if (!(ns > 0 || (ns === 0 && this.quantized))) {
      throw new Error(`GpuTimer: the GPU reported timestamps ${ticks[0]} → ${ticks[1]} (not increasing); time with wall-clock instead (--wall-clock)`);
    }
    return { gpu: ns / 1e6, wall };
  }
}

/** Bytes of rotated input copies to aim for: beyond the last-level caches of current GPUs and CPUs. */
export const ROTATION_BYTES = 128 * 2 ** 20;
/** Most input copies rotated through. */
export const MAX_COPIES = 8;

/**
 * How many copies of a working set to rotate through so that each run finds its inputs out of
 * cache: ceil(ROTATION_BYTES / workingSetBytes), between 1 and MAX_COPIES.
 * @throws Error when workingSetBytes is not positive
 */
export function rotationCopies(workingSetBytes: number): number {
  if (!(workingSetBytes > 0)) throw new Error(`rotationCopies: working set must be positive (got ${workingSetBytes} bytes)`);
  return Math.max(1, Math.min(MAX_COPIES, Math.ceil(ROTATION_BYTES / workingSetBytes)));
}

/**
 * `n` values uniform in [-1, 1) from a seeded xorshift128 stream (fast enough for the 10⁷-element
 * inputs of the BERT-base shapes); never exactly 0, since zeros can take faster paths on some
 * hardware and would flatter the result.
 */
export function randomValues(n: number, seed: number): Float32Array {
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  let y = 0x243f6a88;
  let z = 0xb7e15162;
  let w = (seed * 0x85ebca6b) >>> 0 || 0x6a09e667;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    const v = w / 2 ** 31 - 1;
    out[i] = v === 0 ? 0.5 : v;
  }
  return out;
}

/** A tensor of `randomValues` with this shape (see randomValues). */
export function randomTensor(shape: readonly number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(randomValues(n, seed), shape);
}
