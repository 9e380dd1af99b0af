/** A short multitask pruning loop driven directly (no CLI), shared by the multitask tests. */
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { defaultDataDir } from '../../data/paths.ts';
import { type Task, getTask, loadSplit } from '../../data/tasks.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { Bert } from '../../models/bert.ts';
import { type BertConfig, namedConfig } from '../../models/config.ts';
import { TaskHeads } from '../../multitask/heads.ts';
import { TaskSampler, samplingProbabilities } from '../../multitask/sampling.ts';
import { MultitaskPruner } from '../../multitask/step.ts';
import { createStrategy } from '../../pruning/strategies.ts';
import type { PrunedModel, PruningStrategy, StrategyName, StrategyOptions } from '../../pruning/strategy.ts';
import { BatchSampler, type EncodedSplit, encodeSplit, makeBatch } from '../../training/data.ts';

export interface TaskData {
  task: Task;
  train: EncodedSplit;
  dev: EncodedSplit;
}

/** The first `n` train and dev examples of each task, tokenised at `maxLength`. */
export function loadTasks(names: string[], n: number, maxLength: number): TaskData[] {
  const dataDir = defaultDataDir();
  const tokenizer = loadTokenizer(path.join(dataDir, 'vocab', 'bert-base-uncased'));
  return names.map((name) => {
    const task = getTask(name);
    const split = (s: 'train' | 'dev') => encodeSplit(tokenizer, loadSplit(task, dataDir, s).examples.slice(0, n), maxLength);
    return { task, train: split('train'), dev: split('dev') };
  });
}

/** A tiny encoder (L2 H32 A2 I64) over the real vocabulary. */
export function tinyEncoder(seed: number): Bert {
  const base = namedConfig('tiny');
  const config: BertConfig = { ...base, hiddenSize: 32, numHeads: 2, headSize: 16, intermediateSize: 64, maxPositionEmbeddings: 64, layers: [0, 1].map(() => ({ numHeads: 2, intermediateSize: 64 })) };
  const model = Bert.random(config, 'base', seed);
  model.setTrainable((n) => n.startsWith('bert.embeddings.') && !n.includes('LayerNorm'), false);
  return model;
}

export interface LoopResult {
  strategy: PruningStrategy;
  heads: TaskHeads;
  pruner: MultitaskPruner;
  /** Kept fraction the regulariser saw, per step. */
  kept: number[];
  losses: number[];
  final: PrunedModel;
}

/** Prunes the tiny encoder on the tasks for `steps` steps with uniform task sampling; returns the final model. */
export async function pruneLoop(name: StrategyName, tasks: TaskData[], o: StrategyOptions & { maskLr: number; lagrangianLr?: number; lr: number; batchSize: number }): Promise<LoopResult> {
  E.getEngine().setSeed(o.seed);
  const strategy = await createStrategy(name, tinyEncoder(o.seed), o);
  const heads = TaskHeads.forModel(strategy.model.config, tasks.map((t) => t.task), o.seed + 1);
  const pruner = new MultitaskPruner(strategy, heads, tasks.map((t) => t.task), tasks.map(() => 1), { steps: o.steps, lr: o.lr, maskLr: o.maskLr, lagrangianLr: o.lagrangianLr, weightDecay: 0 });
  const sampler = new TaskSampler(samplingProbabilities(tasks.map((t) => t.train.n), { kind: 'uniform' }), o.seed + 2);
  const batches = tasks.map((t, i) => new BatchSampler(t.train.n, o.batchSize, o.seed + 3 + i));
  const kept: number[] = [];
  const losses: number[] = [];
  for (let step = 0; step < o.steps; step++) {
    const t = sampler.next();
    const indices = batches[t]!.next();
    const s = E.tidy(() => pruner.step(t, makeBatch(tasks[t]!.train, indices, tasks[t]!.task.isRegression), step));
    // Read every step: it is also what keeps the GPU stream bounded (tens of thousands of
    // dispatches recorded without any wait crash Dawn on lavapipe).
    const v = await s.read();
    s.dispose();
    losses.push(v[0]!);
    kept.push(v[3]!);
  }
  return { strategy, heads, pruner, kept, losses, final: await strategy.finalize() };
}
