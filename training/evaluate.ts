/** Evaluation of a classifier/regressor on a labelled split: predictions and the task's metrics. */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { computeMetrics } from '../data/metrics.ts';
import type { Task } from '../data/tasks.ts';
import type { Bert } from '../models/bert.ts';
import { isNamedConfig, loadModel } from '../models/load.ts';
import type { StructureMasks } from '../models/masks.ts';
import { type EncodedSplit, makeBatch } from './data.ts';

/** A model whose output head does not fit a task; the message names both heads. */
export class TaskHeadMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskHeadMismatchError';
  }
}

/** Class names for a message: the first 8, then how many more. */
function listLabels(names: readonly string[]): string {
  return names.length <= 8 ? names.join(', ') : `${names.slice(0, 8).join(', ')}, … ${names.length - 8} more`;
}

/** "a 2-label classification head (labels 0, 1)", "a regression head (1 output)", "an MLM head (no classifier)". */
export function describeModelHead(model: Pick<Bert, 'head' | 'config'>): string {
  if (model.head !== 'classification') return model.head === 'mlm' ? 'an MLM head (no classifier)' : 'no head (a bare encoder, no classifier)';
  const c = model.config;
  if (c.problemType === 'regression') return 'a regression head (1 output)';
  const names = c.id2label === undefined ? '' : ` (labels ${listLabels(Object.keys(c.id2label).map((k) => c.id2label![Number(k)]!))})`;
  return `a ${c.numLabels}-label classification head${names}`;
}

/** "a 7-label classification head (labels COMPARE, …)" or "a regression head (1 output)". */
export function describeTaskHead(task: Pick<Task, 'isRegression' | 'numLabels' | 'labelNames'>): string {
  if (task.isRegression) return 'a regression head (1 output)';
  return `a ${task.numLabels}-label classification head${task.labelNames === undefined ? '' : ` (labels ${listLabels(task.labelNames)})`}`;
}

/**
 * Checks that the model's classifier fits the task: a classification head with the task's number
 * of labels, or a regression head (1 output) for a regression task. Label names are not compared
 * (checkpoints name the same classes differently: "equivalent" or "1").
 * @param name names the model in the message (its directory).
 * @throws TaskHeadMismatchError naming the model's head and the task's
 */
export function checkHeadFitsTask(model: Pick<Bert, 'head' | 'config'>, task: Pick<Task, 'name' | 'isRegression' | 'numLabels' | 'labelNames'>, name = 'the model'): void {
  const c = model.config;
  const fits = model.head === 'classification' && (task.isRegression ? c.problemType === 'regression' && c.numLabels === 1 : c.problemType !== 'regression' && c.numLabels === task.numLabels);
  if (!fits) {
    throw new TaskHeadMismatchError(`${name} has ${describeModelHead(model)}, but task ${task.name} needs ${describeTaskHead(task)}: evaluate it on the task it was fine-tuned for, or fine-tune it on ${task.name} first`);
  }
}

/**
 * Loads a fine-tuned model with its own classifier (for a multitask model directory, the head of
 * `task`), to evaluate on `task` or to distil from: never
 * a freshly initialised head (which loadModel makes when the label count differs or the checkpoint
 * has none, and which would give meaningless scores with exit status 0).
 * @throws TaskHeadMismatchError when `spec` is a config name (random weights), the checkpoint has no
 *   classifier (a base or MLM checkpoint), or its head does not fit the task; the loader's errors
 *   for a missing or invalid checkpoint
 */
export function loadFineTuned(spec: string, task: Pick<Task, 'name' | 'isRegression' | 'numLabels' | 'labelNames'>, seed = 0): Bert {
  if (isNamedConfig(spec)) throw new TaskHeadMismatchError(`${spec} is a config name (random weights), not a fine-tuned checkpoint directory`);
  // A multitask model directory (task_heads.json) gives the head of this task.
  const { model, initialised } = loadModel(spec, { head: 'classification', seed, task: task.name });
  const fresh = initialised.filter((n) => n.startsWith('classifier.') || n.startsWith('bert.pooler.'));
  if (fresh.length > 0) {
    model.dispose();
    throw new TaskHeadMismatchError(`${spec} has no classifier (it lacks ${fresh.join(', ')}): a pretrained encoder, not a model fine-tuned for ${task.name}`);
  }
  try {
    checkHeadFitsTask(model, task, spec);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

export interface EvaluateOptions {
  batchSize: number;
  /** Masks for a masked (not yet compacted) model, made inside each batch's scope. */
  masks?: () => StructureMasks;
  /** Logits from pooled features instead of the model's classifier (an auxiliary task head). */
  head?: (pooled: Tensor) => Tensor;
}

export interface Evaluation {
  metrics: Record<string, number>;
  /** Class index (classification) or value (regression) per example. */
  predictions: Float64Array;
}

/**
 * Runs the model without dropout over every example and scores it with the task's metrics.
 * @throws TaskHeadMismatchError when the model's classifier (or options.head's output) does not fit
 *   the task (label count, or classification vs regression); Error when the split is unlabeled or empty
 */
export async function evaluate(model: Bert, split: EncodedSplit, task: Task, options: EvaluateOptions): Promise<Evaluation> {
  if (!options.head) checkHeadFitsTask(model, task);
  if (split.n === 0) throw new Error(`evaluate: the ${task.name} split has no examples`);
  if (split.labels.some((v) => Number.isNaN(v))) throw new Error(`evaluate: the ${task.name} split has no labels`);
  if (!(Number.isInteger(options.batchSize) && options.batchSize > 0)) throw new Error(`evaluate: batch size must be a positive integer (got ${options.batchSize})`);
  const outputs = task.isRegression ? 1 : task.numLabels;
  const predictions = new Float64Array(split.n);
  for (let start = 0; start < split.n; start += options.batchSize) {
    const indices = Array.from({ length: Math.min(options.batchSize, split.n - start) }, (_, i) => start + i);
    const logits = E.noGrad(() =>
      E.tidy(() => {
        const batch = makeBatch(split, indices, task.isRegression);
        const masks = options.masks?.();
        if (options.head) {
          const enc = model.encode(batch.inputs, { training: false, masks });
          return options.head(model.pool(enc.sequence));
        }
        return model.classify(batch.inputs, { training: false, masks }).logits;
      }),
    );
    if (logits.shape.length !== 2 || logits.shape[1] !== outputs) {
      const shape = `[${logits.shape.join(', ')}]`;
      logits.dispose();
      throw new TaskHeadMismatchError(`evaluate: the ${options.head ? 'head' : 'model'} gives logits of shape ${shape}, but task ${task.name} needs ${describeTaskHead(task)} ([B, ${outputs}])`);
    }
    const values = await logits.read();
    logits.dispose();
    const C = task.numLabels;
    indices.forEach((i, r) => {
      if (task.isRegression) predictions[i] = values[r]!;
      else {
        let best = 0;
        for (let c = 1; c < C; c++) if (values[r * C + c]! > values[r * C + best]!) best = c;
        predictions[i] = best;
      }
    });
  }
  return { metrics: computeMetrics(task.metricNames, predictions, split.labels), predictions };
}
