/** Evaluation of a classifier/regressor on a labelled split: predictions and the task's metrics. */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { computeMetrics } from '../data/metrics.ts';
import type { Task } from '../data/tasks.ts';
import type { Bert } from '../models/bert.ts';
import type { StructureMasks } from '../models/masks.ts';
import { type EncodedSplit, makeBatch } from './data.ts';

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
 * @throws Error when the split is unlabeled
 */
export async function evaluate(model: Bert, split: EncodedSplit, task: Task, options: EvaluateOptions): Promise<Evaluation> {
  if (split.labels.some((v) => Number.isNaN(v))) throw new Error(`evaluate: the ${task.name} split has no labels`);
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
