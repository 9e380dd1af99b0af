/**
 * Evaluation metrics of the GLUE / SciBERT tasks, computed in float64.
 * Classification metrics take class indices; correlations take real-valued scores.
 */

/** Names accepted by {@link computeMetrics}. */
export const METRIC_NAMES = ['accuracy', 'f1', 'macro_f1', 'pearson', 'spearman'] as const;
/** A metric name of {@link METRIC_NAMES}. */
export type MetricName = (typeof METRIC_NAMES)[number];

function checkPair(name: string, predictions: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (predictions.length !== labels.length) {
    throw new Error(`${name}: ${predictions.length} predictions for ${labels.length} labels`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (Number.isNaN(labels[i]!)) throw new Error(`${name}: label ${i} is NaN (an unlabeled split cannot be scored)`);
  }
}

/** Fraction of predictions equal to their label. NaN for empty input. @throws Error on a length mismatch or NaN labels. */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('accuracy', predictions, labels);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return labels.length === 0 ? NaN : correct / labels.length;
}

/** True positives, false positives and false negatives of class `c`. */
function confusion(predictions: ArrayLike<number>, labels: ArrayLike<number>, c: number): { tp: number; fp: number; fn: number } {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = predictions[i] === c;
    const l = labels[i] === c;
    if (p && l) tp++;
    else if (p) fp++;
    else if (l) fn++;
  }
  return { tp, fp, fn };
}

/** F1 = 2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall; 0 when the denominator is 0 (as scikit-learn). */
function f1Of({ tp, fp, fn }: { tp: number; fp: number; fn: number }): number {
  const d = 2 * tp + fp + fn;
  return d === 0 ? 0 : (2 * tp) / d;
}

/**
 * Binary F1 of the positive class 1 (GLUE's MRPC F1; scikit-learn `f1_score` with pos_label=1):
 * 2·TP / (2·TP + FP + FN); 0 when there are no positive labels or predictions.
 * @throws Error on a length mismatch or NaN labels.
 */
export function f1(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('f1', predictions, labels);
  return f1Of(confusion(predictions, labels, 1));
}

/**
 * Macro F1: the unweighted mean of per-class F1 over the classes present in labels ∪ predictions
 * (scikit-learn `f1_score(average='macro')` with default labels). NaN for empty input.
 * @throws Error on a length mismatch or NaN labels.
 */
export function macroF1(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('macro_f1', predictions, labels);
  const classes = new Set<number>();
  for (let i = 0; i < labels.length; i++) {
    classes.add(labels[i]!);
    classes.add(predictions[i]!);
  }
  if (classes.size === 0) return NaN;
  let sum = 0;
  for (const c of classes) sum += f1Of(confusion(predictions, labels, c));
  return sum / classes.size;
}

/**
 * Pearson correlation r = Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² Σ(y−ȳ)²) (two-pass, float64).
 * NaN when fewer than 2 values or when either vector is constant (zero variance: r is undefined;
 * scipy returns NaN with a warning too).
 * @throws Error on a length mismatch or NaN labels.
 */
export function pearson(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('pearson', predictions, labels);
  const n = labels.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += predictions[i]!;
    my += labels[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = predictions[i]! - mx;
    const dy = labels[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Ranks 1..n of the values, ties given the average of the ranks they span (scipy `rankdata(method='average')`). */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]!] === values[order[i]!]) j++;
    const rank = (i + j) / 2 + 1; // average of ranks i+1 .. j+1
    for (let k = i; k <= j; k++) ranks[order[k]!] = rank;
    i = j + 1;
  }
  return ranks;
}

/**
 * Spearman rank correlation: the Pearson correlation of the average ranks (ties averaged), as
 * scipy.stats.spearmanr. NaN when fewer than 2 values or either vector is constant.
 * @throws Error on a length mismatch or NaN labels.
 */
export function spearman(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('spearman', predictions, labels);
  return pearson(averageRanks(predictions), averageRanks(labels));
}

const FUNCTIONS: Record<MetricName, (p: ArrayLike<number>, l: ArrayLike<number>) => number> = {
  accuracy,
  f1,
  macro_f1: macroF1,
  pearson,
  spearman,
};

/**
 * Computes the named metrics: `{name: value}` in the order given.
 * @param predictions class indices (accuracy, f1, macro_f1) or scores (pearson, spearman).
 * @throws Error for an unknown metric name (listing the known ones), a length mismatch, or NaN labels.
 */
export function computeMetrics(names: readonly string[], predictions: ArrayLike<number>, labels: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) {
    if (!Object.hasOwn(FUNCTIONS, name)) throw new Error(`unknown metric "${name}" (known: ${METRIC_NAMES.join(', ')})`);
    out[name] = FUNCTIONS[name as MetricName](predictions, labels);
  }
  return out;
}
