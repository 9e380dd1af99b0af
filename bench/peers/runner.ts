/**
 * What `bench peers` needs of every engine (webprune's and each peer's) for one problem, and the
 * round-robin wall-clock timing of several of them.
 *
 * A run is timed from the start of recording to the completion of its GPU work, without reading
 * results back (each engine's own way: our queue's sync, tfjs's submitQueue and
 * onSubmittedWorkDone, jax-js's blockUntilReady): the one method every engine allows, so the
 * ratios compare like with like.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { Problem, Inputs } from './problems.ts';
import { type TimingStats, summarize } from '../timer.ts';

/** One engine prepared for one problem (inputs uploaded, kernels not necessarily compiled). */
export interface Runner {
  /** Runs once; resolves when the GPU work is complete. */
  run(): Promise<void>;
  /** Runs once and reads back the outputs, in outputNames(problem) order. */
  outputs(): Promise<Float32Array[]>;
  /** Frees what prepare() allocated. */
  dispose(): void;
}

/** The peer engines `bench peers` knows. */
export const PEER_NAMES = ['tfjs', 'jax-js', 'onnxruntime'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** A loaded peer engine. */
export interface PeerEngine {
  readonly name: PeerName;
  readonly version: string;
  /** The kinds of problem this peer is benchmarked on. */
  readonly kinds: readonly Problem['kind'][];
  /** A runner for the problem, or null when this peer is not benchmarked on this kind of problem. */
  prepare(p: Problem, inputs: Inputs): Promise<Runner | null>;
  /** Releases the engine's device. */
  dispose(): void;
}

/**
 * Times `runners` round-robin: `warmup` untimed rounds, then `repeats` timed rounds; the order
 * within a round rotates, so no engine always runs right after another's work.
 * @returns one TimingStats (ms) per runner, in order
 */
export async function timeRoundRobin(runners: readonly Runner[], warmup: number, repeats: number, onRun?: () => void): Promise<TimingStats[]> {
  const samples = runners.map(() => [] as number[]);
  for (let round = 0; round < warmup + repeats; round++) {
    for (let j = 0; j < runners.length; j++) {
      const r = (round + j) % runners.length;
      const t0 = performance.now();
      await runners[r]!.run();
      const ms = performance.now() - t0;
      if (round >= warmup) samples[r]!.push(ms);
      onRun?.();
    }
  }
  return samples.map((s) => summarize(s));
}

/** The version in an installed package's package.json (found from its entry point, which `exports` may not list). */
export function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  let dir = path.dirname(require.resolve(name));
  while (!fs.existsSync(path.join(dir, 'package.json')) || JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== name) {
    const up = path.dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
  return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}
