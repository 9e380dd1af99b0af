/**
 * Which task each multitask step trains on (Xia & Shin 2021 sample tasks per batch; the schemes are
 * the usual ones of multitask learning, e.g. Arivazhagan et al. 2019's temperature sampling):
 *   proportional   p_t ∝ n_t (the training set sizes)
 *   uniform        p_t = 1/k
 *   temperature:T  p_t ∝ n_t^(1/T)   (T = 1 is proportional, T → ∞ uniform)
 * and the per-task weights that scale each task's loss.
 */
import * as E from '../engine/index.ts';

export type TaskSampling = { kind: 'proportional' } | { kind: 'uniform' } | { kind: 'temperature'; temperature: number };

/**
 * Parses `proportional`, `uniform` or `temperature:T` (T > 0).
 * @throws Error naming --task-sampling and the accepted forms
 */
export function parseTaskSampling(spec: string): TaskSampling {
  if (spec === 'proportional' || spec === 'uniform') return { kind: spec };
  const m = /^temperature:(.+)$/.exec(spec);
  const T = m ? Number(m[1]) : NaN;
  if (m && Number.isFinite(T) && T > 0) return { kind: 'temperature', temperature: T };
  throw new Error(`--task-sampling must be proportional, uniform or temperature:T with T > 0 (got "${spec}")`);
}

/**
 * Probability of each task under a scheme.
 * @param sizes training examples per task (positive)
 * @throws Error when a size is not a positive number
 */
export function samplingProbabilities(sizes: readonly number[], sampling: TaskSampling): number[] {
  if (sizes.length === 0 || sizes.some((n) => !(n > 0))) throw new Error(`task sampling: every task needs training examples (sizes ${sizes.join(', ')})`);
  const exponent = sampling.kind === 'uniform' ? 0 : sampling.kind === 'proportional' ? 1 : 1 / sampling.temperature;
  const w = sizes.map((n) => n ** exponent);
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

/**
 * Parses per-task loss weights, `a,b,...` with one non-negative number per task, not all 0; an
 * absent spec gives 1 for every task.
 * @throws Error naming --task-weights
 */
export function parseLossWeights(spec: string | undefined, tasks: number): number[] {
  if (spec === undefined) return new Array<number>(tasks).fill(1);
  const w = spec.split(',').map((s) => Number(s.trim()));
  if (w.length !== tasks || w.some((x) => !(x >= 0)) || w.every((x) => x === 0)) {
    throw new Error(`--task-weights must be ${tasks} non-negative numbers, one per task, not all 0 (got "${spec}")`);
  }
  return w;
}

/** Draws task indices with fixed probabilities from a seeded stream whose position can be saved. */
export class TaskSampler {
  private readonly rng: E.HostRandom;
  private readonly cumulative: number[];

  constructor(readonly probabilities: readonly number[], seed: number) {
    this.rng = new E.HostRandom(seed);
    let acc = 0;
    this.cumulative = probabilities.map((p) => (acc += p));
  }

  /** The next task index. */
  next(): number {
    const u = this.rng.uniform() * this.cumulative[this.cumulative.length - 1]!;
    const i = this.cumulative.findIndex((c) => u < c);
    return i < 0 ? this.cumulative.length - 1 : i;
  }

  /** The stream position (for checkpoints). */
  get position(): number {
    return this.rng.position;
  }

  set position(p: number) {
    this.rng.position = p;
  }
}
