/**
 * The engine's profiler: per training step, the GPU time of every kernel (from timestamp queries
 * where the device has 'timestamp-query'), dispatch and submit counts, host time (recording, i.e.
 * wall time not spent waiting for the GPU) and readbacks; as a table sorted by GPU time and as JSON.
 *
 *   const profiler = startProfiling();          // hooks the engine's command queue
 *   for (...) { profileStepStart(); step(); profileStep(); }  // a no-op when off; the start is optional
 *   const report = await profiler.stop();        // reads the timestamps back
 *   console.log(formatProfile(report));
 *
 * With timestamps each dispatch is recorded in a compute pass of its own whose beginning and end
 * are timestamped, so a kernel's time is its own execution; the extra passes cost launch overhead
 * (~0.1 ms per dispatch on lavapipe), which inflates wall time while profiling but not the kernel
 * times. Without 'timestamp-query' only counts and host times are reported.
 */
import type { Engine } from '../context.ts';
import type { CommandQueue, QueueObserver } from './command_queue.ts';

export interface ProfileOptions {
  /** Time kernels with GPU timestamps: 'auto' (default) when the device has them. */
  timestamps?: 'auto' | 'off';
}

/** One kernel's totals over the profiled steps. */
export interface KernelProfile {
  /** Kernel (handle) name, e.g. 'matmul_cpu'. */
  kernel: string;
  dispatches: number;
  /** Summed GPU time (ms), null without timestamps. */
  gpu_ms: number | null;
  /** Share of all kernels' GPU time, null without timestamps. */
  gpu_share: number | null;
}

/** Per-step numbers (means over the profiled steps, and the steps themselves). */
export interface StepProfile {
  wall_ms: number;
  /** Wall time not spent awaiting the GPU (recording, host work). */
  host_ms: number;
  /** Time awaiting GPU results (read(), sync()) within the step (overlapping waits counted once). */
  wait_ms: number;
  dispatches: number;
  submits: number;
  readbacks: number;
  readback_bytes: number;
  /** Sum of the step's kernel GPU times (ms), null without timestamps. */
  gpu_ms: number | null;
}

export interface ProfileReport {
  device: string;
  deviceClass: string;
  timestamps: boolean;
  steps: number;
  /** Means per step. */
  perStep: StepProfile;
  /** Every step in order. */
  stepList: StepProfile[];
  /** Kernels sorted by GPU time (by dispatch count without timestamps), over all steps. */
  kernels: KernelProfile[];
}

/** Queries per query set (WebGPU allows at most 4096). */
const QUERY_CAPACITY = 4096;

interface Chunk {
  /** Resolved timestamps of this chunk (filled by the resolve recorded when the chunk closed). */
  buffer: GPUBuffer;
  /** Kernel name and step index of each query pair. */
  kernels: string[];
  steps: number[];
}

let active: Profiler | null = null;

/** Collects one profile; see the file header. */
export class Profiler implements QueueObserver {
  readonly timestamps: boolean;
  private readonly queue: CommandQueue;
  private querySet: GPUQuerySet | null = null;
  private pairs = 0;
  private chunks: Chunk[] = [];
  private current: Chunk | null = null;
  private readonly stepList: Array<Omit<StepProfile, 'gpu_ms'>> = [];
  private stepStart = performance.now();
  /** End of the last wait counted (waits overlapping it count only after it). */
  private waitedUntil = 0;
  private open = this.emptyStep();
  private stopped = false;
  /** Dispatches per kernel over completed steps, and in the open step. */
  private readonly counts = new Map<string, number>();
  private readonly openCounts = new Map<string, number>();
  /** The timestamp pairs (chunk, index) of the open step. */
  private openPairs: Array<[Chunk, number]> = [];

  constructor(
    private readonly engine: Engine,
    options: ProfileOptions = {},
  ) {
    this.queue = engine.queue;
    this.timestamps = (options.timestamps ?? 'auto') === 'auto' && engine.gpu.features.has('timestamp-query');
  }

  /** QueueObserver: a dispatch of `kernel` is being recorded; where its pass writes timestamps. */
  onDispatch(kernel: string): GPUComputePassTimestampWrites | null {
    this.open.dispatches++;
    this.openCounts.set(kernel, (this.openCounts.get(kernel) ?? 0) + 1);
    if (!this.timestamps) return null;
    if (!this.current || this.pairs === QUERY_CAPACITY / 2) this.newChunk();
    const i = this.pairs++;
    this.current!.kernels.push(kernel);
    this.openPairs.push([this.current!, this.current!.steps.push(this.stepList.length) - 1]);
    return { querySet: this.querySet!, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  onSubmit(): void {
    this.open.submits++;
  }

  onWait(ms: number, readBytes: number | null): void {
    // Count the union of the waits within this step: the run loop awaits the previous step's sync
    // in this step, and a read can overlap a pending sync (waits end in the order reported here).
    const now = performance.now();
    this.open.wait_ms += Math.max(0, now - Math.max(now - ms, this.stepStart, this.waitedUntil));
    this.waitedUntil = now;
    if (readBytes !== null) {
      this.open.readbacks++;
      this.open.readback_bytes += readBytes;
    }
  }

  /**
   * Starts a step now: what was recorded since the last step ended (evaluation, checkpoints, data
   * preparation between steps) is left out of the profile.
   */
  startStep(): void {
    for (const [chunk, i] of this.openPairs) chunk.steps[i] = -1;
    this.openPairs = [];
    this.openCounts.clear();
    this.open = this.emptyStep();
    this.stepStart = performance.now();
  }

  /** Ends the current step (call once per training step). */
  step(): void {
    const now = performance.now();
    const wall = now - this.stepStart;
    this.stepList.push({ ...this.open, wall_ms: wall, host_ms: Math.max(0, wall - this.open.wait_ms) });
    for (const [kernel, n] of this.openCounts) this.counts.set(kernel, (this.counts.get(kernel) ?? 0) + n);
    this.openCounts.clear();
    this.openPairs = [];
    this.stepStart = now;
    this.open = this.emptyStep();
  }

  /**
   * Stops profiling (unhooks the queue) and builds the report from the completed steps; work
   * recorded after the last step() is dropped.
   */
  async stop(): Promise<ProfileReport> {
    if (!this.stopped) {
      this.stopped = true;
      this.closeChunk();
      if (this.queue.observer === this) this.queue.observer = null;
      if (active === this) active = null;
    }
    const steps = this.stepList.length;
    const gpuPerStep = new Array<number>(steps).fill(0);
    const byKernel = new Map<string, { dispatches: number; ms: number }>();
    for (const [kernel, n] of this.counts) byKernel.set(kernel, { dispatches: n, ms: 0 });
    for (const chunk of this.chunks) {
      const ticks = chunk.kernels.length ? new BigUint64Array(await this.queue.read(chunk.buffer, chunk.kernels.length * 16)) : null;
      chunk.kernels.forEach((kernel, i) => {
        const s = chunk.steps[i]!;
        if (s < 0 || s >= steps) return; // left out by startStep(), or after the last step
        const e = byKernel.get(kernel)!;
        if (ticks) {
          const ms = Number(ticks[2 * i + 1]! - ticks[2 * i]!) / 1e6;
          e.ms += ms;
          gpuPerStep[s] += ms;
        }
        byKernel.set(kernel, e);
      });
      chunk.buffer.destroy();
    }
    this.chunks = [];
    this.querySet?.destroy();
    this.querySet = null;
    const total = [...byKernel.values()].reduce((s, k) => s + k.ms, 0);
    const kernels: KernelProfile[] = [...byKernel]
      .map(([kernel, k]) => ({
        kernel,
        dispatches: k.dispatches,
        gpu_ms: this.timestamps ? k.ms : null,
        gpu_share: this.timestamps && total > 0 ? k.ms / total : null,
      }))
      .sort((a, b) => (b.gpu_ms ?? 0) - (a.gpu_ms ?? 0) || b.dispatches - a.dispatches);
    const stepList: StepProfile[] = this.stepList.map((s, i) => ({ ...s, gpu_ms: this.timestamps ? gpuPerStep[i]! : null }));
    const mean = (f: (s: StepProfile) => number) => (steps ? stepList.reduce((acc, s) => acc + f(s), 0) / steps : 0);
    const d = this.engine.gpu.description;
    return {
      device: `${d.description} (${d.vendor})`,
      deviceClass: this.engine.deviceClass,
      timestamps: this.timestamps,
      steps,
      perStep: {
        wall_ms: mean((s) => s.wall_ms),
        host_ms: mean((s) => s.host_ms),
        wait_ms: mean((s) => s.wait_ms),
        dispatches: mean((s) => s.dispatches),
        submits: mean((s) => s.submits),
        readbacks: mean((s) => s.readbacks),
        readback_bytes: mean((s) => s.readback_bytes),
        gpu_ms: this.timestamps ? mean((s) => s.gpu_ms!) : null,
      },
      stepList,
      kernels,
    };
  }

  private emptyStep(): Omit<StepProfile, 'gpu_ms'> {
    return { wall_ms: 0, host_ms: 0, wait_ms: 0, dispatches: 0, submits: 0, readbacks: 0, readback_bytes: 0 };
  }

  /** Resolves the filled query set into its chunk's buffer and starts a new chunk. */
  private newChunk(): void {
    this.closeChunk();
    this.querySet ??= this.engine.device.createQuerySet({ type: 'timestamp', count: QUERY_CAPACITY });
    const buffer = this.engine.device.createBuffer({ size: QUERY_CAPACITY * 8, usage: 0x0200 /* QUERY_RESOLVE */ | 0x0004 /* COPY_SRC */ });
    this.current = { buffer, kernels: [], steps: [] };
    this.chunks.push(this.current);
    this.pairs = 0;
  }

  private closeChunk(): void {
    if (this.current && this.pairs > 0) this.queue.resolveQueries(this.querySet!, 0, 2 * this.pairs, this.current.buffer, 0);
    this.current = null;
  }
}

/**
 * Starts profiling the engine's command stream (replacing a profile in progress).
 * @throws Error when a profile is already running
 */
export function startProfiling(engine: Engine, options: ProfileOptions = {}): Profiler {
  if (active) throw new Error('startProfiling: a profile is already running (stop() it first)');
  const p = new Profiler(engine, options);
  engine.queue.observer = p;
  active = p;
  return p;
}

/** Marks the start of a training step for the running profile (see Profiler.startStep); does nothing when none runs. */
export function profileStepStart(): void {
  active?.startStep();
}

/** Marks the end of a training step for the running profile; does nothing when none runs. */
export function profileStep(): void {
  active?.step();
}

/** The running profiler, if any. */
export function activeProfiler(): Profiler | null {
  return active;
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** The report as text: per-step summary, then kernels sorted by GPU time (markdown table). */
export function formatProfile(r: ProfileReport, top = 25): string {
  const s = r.perStep;
  const lines = [
    `profile: ${r.steps} steps on ${r.device}, ${r.deviceClass} kernels, ${r.timestamps ? 'GPU timestamps per dispatch' : 'no timestamps (counts only)'}`,
    `per step: wall ${ms(s.wall_ms)} ms = host ${ms(s.host_ms)} ms + waiting ${ms(s.wait_ms)} ms; ` +
      `${s.gpu_ms === null ? '' : `kernels ${ms(s.gpu_ms)} ms GPU; `}${s.dispatches.toFixed(0)} dispatches, ${s.submits.toFixed(1)} submits, ` +
      `${s.readbacks.toFixed(1)} readbacks (${s.readback_bytes.toFixed(0)} B)`,
    '',
    '| kernel | dispatches/step | GPU ms/step | µs/dispatch | share |',
    '|---|---|---|---|---|',
  ];
  const steps = Math.max(1, r.steps);
  for (const k of r.kernels.slice(0, top)) {
    const per = k.dispatches / steps;
    lines.push(
      `| ${k.kernel} | ${per.toFixed(per >= 10 ? 0 : 1)} | ${k.gpu_ms === null ? '—' : ms(k.gpu_ms / steps)} | ${k.gpu_ms === null ? '—' : ((1000 * k.gpu_ms) / k.dispatches).toFixed(0)} | ${k.gpu_share === null ? '—' : `${(100 * k.gpu_share).toFixed(1)}%`} |`,
    );
  }
  if (r.kernels.length > top) lines.push(`| (${r.kernels.length - top} more) | | | | |`);
  return `${lines.join('\n')}\n`;
}
