/**
 * `--profile` of the bench commands: a few runs of one benchmark row under the engine's profiler
 * (engine/runtime/profiler.ts), each run one profiled step: per kernel GPU time, dispatches,
 * host time and readbacks per step.
 */
import * as E from '../engine/index.ts';
import { Bert } from '../models/bert.ts';
import type { BertConfig } from '../models/config.ts';
import { type KernelCase, bertInputs } from './kernels.ts';
import { initBenchEngine } from './timer.ts';

export interface ProfileCaseOptions {
  /** Unprofiled runs first (pipeline compilation, pool warm-up). Default 2. */
  warmup?: number;
  /** Profiled runs, one step each. Default 3. */
  steps?: number;
  seed?: number;
}

/**
 * Profiles `steps` runs of a bench row (each followed by a wait for the GPU, as a training loop
 * that logs every step would) after `warmup` unprofiled ones, with output poisoning off.
 * @throws Error when a profile is already running
 */
export async function profileCase(c: KernelCase, options: ProfileCaseOptions = {}): Promise<E.ProfileReport> {
  const engine = await initBenchEngine();
  const prepared = c.prepare(options.seed ?? 0);
  // Poisoning of fresh outputs (tests) would add a dispatch per allocation to the profile.
  const poison = engine.poison;
  engine.poison = false;
  try {
    for (let i = 0; i < (options.warmup ?? 2); i++) {
      prepared.run(i);
      await engine.sync();
    }
    const profiler = E.startProfiling(engine);
    try {
      for (let i = 0; i < (options.steps ?? 3); i++) {
        prepared.run(i);
        await engine.sync();
        E.profileStep();
      }
    } catch (err) {
      await profiler.stop();
      throw err;
    }
    return await profiler.stop();
  } finally {
    engine.poison = poison;
    prepared.dispose();
  }
}

/** A sequence-classification forward pass without gradients (the speedup bench's unit of work). */
export function inferenceCase(config: BertConfig, batch: number, seq: number): KernelCase {
  return {
    name: `forward B=${batch} S=${seq}`,
    kind: 'forward',
    shape: `B=${batch} S=${seq} L${config.numLayers} H${config.hiddenSize}`,
    flops: 0,
    bytes: 0,
    prepare(seed) {
      const model = Bert.random(config, 'classification', seed);
      const sets = bertInputs(config, batch, seq, 2, seed);
      return {
        run: (i) => E.noGrad(() => E.tidy(() => void model.classify(sets[i % sets.length]!, { training: false }))),
        dispose: () => {
          model.dispose();
          for (const s of sets) for (const t of Object.values(s)) t.dispose();
        },
      };
    },
  };
}
