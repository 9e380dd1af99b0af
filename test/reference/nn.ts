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

/**
 * Multi-head attention in the projection layout: q, k, v [B, S, heads·d], additive mask [B, S]
 * (optional), headZ [heads] (optional) → out [B, S, heads·d] = z_h·softmax(q_h k_hᵀ/√d + mask)·v_h,
 * with `absPV` = z_h·Σ_j p_ij |v_jc| (the conditioning of the output sum) and `maxScore` = the
 * largest |q·k|/√d of each output row (what an error in the exponent is relative to).
 */
export function attentionRef(q: NDArray, k: NDArray, v: NDArray, heads: number, mask?: NDArray, headZ?: NDArray): { out: NDArray; absPV: NDArray; maxScore: NDArray } {
  const [B, S, HD] = q.shape as [number, number, number];
  const d = HD / heads;
  const out = NDArray.zeros(q.shape);
  const absPV = NDArray.zeros(q.shape);
  const maxScore = NDArray.zeros(q.shape);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const z = headZ ? headZ.data[h]! : 1;
      for (let i = 0; i < S; i++) {
        const scores = new Float64Array(S);
        let big = 0;
        for (let j = 0; j < S; j++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += q.data[(b * S + i) * HD + h * d + c]! * k.data[(b * S + j) * HD + h * d + c]!;
          scores[j] = s / Math.sqrt(d) + (mask ? mask.data[b * S + j]! : 0);
          big = Math.max(big, Math.abs(s / Math.sqrt(d)));
        }
        const p = softmaxRow(scores);
        for (let c = 0; c < d; c++) {
          let o = 0;
          let a = 0;
          for (let j = 0; j < S; j++) {
            const vj = v.data[(b * S + j) * HD + h * d + c]!;
            o += p[j]! * vj;
            a += p[j]! * Math.abs(vj);
          }
          const at = (b * S + i) * HD + h * d + c;
          out.data[at] = z * o;
          absPV.data[at] = Math.abs(z) * a;
          maxScore.data[at] = big;
        }
      }
    }
  }
  return { out, absPV, maxScore };
}
