/** Float64 references of the neural-network ops. */
import { NDArray, mapRows } from './ndarray.ts';

export function softmaxRow(row: ArrayLike<number>, log = false): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - m);
  return Float64Array.from({ length: row.length }, (_, i) => (log ? row[i]! - m - Math.log(s) : Math.exp(row[i]! - m) / s));
}

/** softmax(x + mask) over the last axis; mask broadcasts. */
export function softmaxRef(x: NDArray, mask?: NDArray, log = false): NDArray {
  const withMask = mask ? x.map((v, i) => v + mask.atBroadcast(x.unravel(i))) : x;
  return mapRows(withMask, (row) => softmaxRow(row, log));
}

export function layerNormRef(x: NDArray, gamma: NDArray, beta: NDArray, eps: number, keep?: NDArray): NDArray {
  return mapRows(x, (row) => {
    const kept = [...row.keys()].filter((c) => !keep || keep.data[c] !== 0);
    const mu = kept.reduce((a, c) => a + row[c]!, 0) / kept.length;
    const variance = kept.reduce((a, c) => a + (row[c]! - mu) ** 2, 0) / kept.length;
    const out = Float64Array.from(row);
    for (const c of kept) out[c] = ((row[c]! - mu) / Math.sqrt(variance + eps)) * gamma.data[c]! + beta.data[c]!;
    return out;
  });
}

/** Mean cross-entropy over rows whose label is not ignoreIndex. */
export function crossEntropyRef(logits: NDArray, labels: ArrayLike<number>, ignoreIndex = -100): NDArray {
  const C = logits.shape[logits.shape.length - 1]!;
  let total = 0;
  let count = 0;
  for (let r = 0; r < labels.length; r++) {
    if (labels[r] === ignoreIndex) continue;
    const logp = softmaxRow(logits.data.subarray(r * C, (r + 1) * C), true);
    total -= logp[labels[r]!]!;
    count++;
  }
  return NDArray.from([total / count], []);
}

export function klDivRef(student: NDArray, teacher: NDArray, T: number): NDArray {
  const C = student.shape[student.shape.length - 1]!;
  const rows = student.size / C;
  let kl = 0;
  for (let r = 0; r < rows; r++) {
    const ls = softmaxRow(student.data.subarray(r * C, (r + 1) * C).map((v) => v / T), true);
    const lt = softmaxRow(teacher.data.subarray(r * C, (r + 1) * C).map((v) => v / T), true);
    for (let c = 0; c < C; c++) kl += Math.exp(lt[c]!) * (lt[c]! - ls[c]!);
  }
  return NDArray.from([(kl * T * T) / rows], []);
}
