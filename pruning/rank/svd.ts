/**
 * Balanced low-rank factors of a weight by singular value decomposition, the initialisation of
 * rank pruning (FLOP: Wang, Wohlwend, Lei 2019, §3; Xia & Shin 2021): W = U Σ Vᵀ, P = Σ^½ Vᵀ,
 * Q = U Σ^½, so that Q·P = W at full rank r = min(out, in) and rank dimension i carries σ_i.
 *
 * The decomposition is ml-matrix's (Golub–Kahan–Reinsch, as JAMA; float64, backward stable:
 * ‖W − UΣVᵀ‖ ≈ 1e-15·‖W‖). It is a numerical utility, not part of the pruning method, so a
 * well-kept library is used rather than our own. Measured on this project's 2-core machine: a
 * 128 × 512 weight in ~0.1-0.4 s, 1024 × 256 in ~2 s, 768 × 3072 in ~55 s; factorise a large model
 * once and save it (the factorised checkpoint loads back with its ranks).
 */
import { Matrix, SingularValueDecomposition } from 'ml-matrix';

/** Factors of a weight W [out, in] (row-major f32): Q [out, r], P [r, in], σ descending. */
export interface BalancedFactors {
  rank: number;
  q: Float32Array;
  p: Float32Array;
  sigma: Float64Array;
}

/**
 * P = Σ^½ Vᵀ and Q = U Σ^½ of W [out, in] at full rank r = min(out, in), dimensions ordered by
 * decreasing singular value.
 * @throws Error when w does not hold out·in values
 */
export function balancedFactors(w: ArrayLike<number>, out: number, inF: number): BalancedFactors {
  if (w.length !== out * inF) throw new Error(`balancedFactors: ${w.length} values for a [${out}, ${inF}] weight`);
  const svd = new SingularValueDecomposition(Matrix.from1DArray(out, inF, Array.from(w)), { autoTranspose: true, computeLeftSingularVectors: true, computeRightSingularVectors: true });
  const U = svd.leftSingularVectors; // [out, r]
  const V = svd.rightSingularVectors; // [in, r]
  const s = svd.diagonal;
  const rank = Math.min(out, inF);
  // ml-matrix returns σ descending; sort anyway so the order is this function's contract.
  const order = [...Array(rank).keys()].sort((a, b) => s[b]! - s[a]! || a - b);
  const q = new Float32Array(out * rank);
  const p = new Float32Array(rank * inF);
  const sigma = new Float64Array(rank);
  order.forEach((src, j) => {
    const root = Math.sqrt(Math.max(0, s[src]!));
    sigma[j] = s[src]!;
    for (let o = 0; o < out; o++) q[o * rank + j] = U.get(o, src) * root;
    for (let i = 0; i < inF; i++) p[j * inF + i] = V.get(i, src) * root;
  });
  return { rank, q, p, sigma };
}
