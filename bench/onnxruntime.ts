/**
 * ONNX Runtime timings for `bench speedup --runtime onnxruntime[,onnxruntime-webgpu]`: the same
 * models (exported by export/onnx.ts, float32) on the same inputs, timed in onnxruntime-node on
 * the CPU execution provider, or on its WebGPU execution provider when the installed build has one
 * and it finds an adapter.
 *
 * Method, as bench/timer.ts for our engine: every session is created (graph optimisation level
 * 'all', so ORT's fusions apply) and warmed up first, then the models are run round-robin,
 * `warmup` untimed and `repeats` timed runs each, so load that drifts on a shared machine affects
 * them alike. A run is the wall-clock time of `session.run` (inputs in, logits out).
 */
import * as os from 'node:os';
import { DAWN_LIMIT_NOTICES, withNativeStderrFiltered } from '../engine/runtime/native_stderr.ts';
import { onnxBytes } from '../export/onnx.ts';
import type { Checkpoint } from '../models/io/checkpoint.ts';
import { type TimingStats, summarize } from './timer.ts';

export type OrtProvider = 'cpu' | 'webgpu';

/** Classifier inputs of one batch on the host: [B, S] row-major. */
export interface HostInputs {
  batch: number;
  seq: number;
  inputIds: Int32Array;
  tokenTypeIds: Int32Array;
  /** 1 for tokens, 0 for padding. */
  attentionMask: ArrayLike<number>;
}

export interface OrtTimingOptions {
  provider: OrtProvider;
  warmup: number;
  repeats: number;
  /** CPU threads of the intra-op pool (default: all cores, as lavapipe and torch_bench.py use). */
  threads?: number;
  onRun?: () => void;
}

export interface OrtTimings {
  /** Per model, in the order given. */
  results: TimingStats[];
  /** What ran: package version, provider, threads. */
  description: string;
}

/**
 * Times each model's forward pass in ONNX Runtime (see the module comment).
 * @throws Error when onnxruntime-node cannot be loaded, or a session cannot be created on the
 *   provider (the message names the provider; the WebGPU provider needs an adapter)
 */
export async function timeOnnxRuntime(models: readonly Checkpoint[], inputs: readonly HostInputs[], options: OrtTimingOptions): Promise<OrtTimings> {
  const ort = await import('onnxruntime-node');
  const threads = options.threads ?? os.availableParallelism();
  const sessionOptions = {
    executionProviders: [options.provider],
    graphOptimizationLevel: 'all' as const,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3 as const,
  };
  const feeds = inputs.map((x) => {
    const t = (a: ArrayLike<number>) => new ort.Tensor('int64', BigInt64Array.from(Array.from(a), (v) => BigInt(v)), [x.batch, x.seq]);
    return { input_ids: t(x.inputIds), attention_mask: t(x.attentionMask), token_type_ids: t(x.tokenTypeIds) };
  });
  const sessions: Array<import('onnxruntime-node').InferenceSession> = [];
  try {
    for (const m of models) {
      // The WebGPU provider brings its own Dawn, which prints the same limit notices as ours.
      const session = await withNativeStderrFiltered(DAWN_LIMIT_NOTICES, () => ort.InferenceSession.create(onnxBytes(m), sessionOptions)).catch((err: Error) => {
        throw new Error(`onnxruntime (${options.provider} execution provider): cannot create a session: ${err.message.split('\n')[0]}`);
      });
      sessions.push(session);
    }
    const samples: number[][] = models.map(() => []);
    for (let i = 0; i < options.warmup + options.repeats; i++) {
      for (let m = 0; m < sessions.length; m++) {
        const t0 = performance.now();
        const out = await sessions[m]!.run(feeds[i % feeds.length]!);
        const ms = performance.now() - t0;
        for (const v of Object.values(out)) v.dispose();
        if (i >= options.warmup) samples[m]!.push(ms);
        options.onRun?.();
      }
    }
    const version = (ort.env as { versions?: { common?: string } }).versions?.common ?? 'unknown';
    return { results: samples.map(summarize), description: `onnxruntime-node ${version}, ${options.provider === 'cpu' ? `CPU execution provider, ${threads} threads` : 'WebGPU execution provider'}, graph optimisation 'all', fp32` };
  } finally {
    for (const s of sessions) await s.release();
  }
}
