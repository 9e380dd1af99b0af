/**
 * The hard-concrete distribution (Louizos, Welling, Kingma 2018, "Learning Sparse Neural Networks
 * through L0 Regularization", §4) with CoFi's constants: a concrete variable stretched to (l, r) and
 * clamped to [0, 1], so that z is exactly 0 or 1 with positive probability and differentiable in
 * log_alpha in between.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { PRUNING_KERNELS } from './kernels/index.ts';

/** Stretch interval (l, r), temperature β and the uniform's margin ε (CoFi's l0_module.py). */
export const HARD_CONCRETE = { l: -0.1, r: 1.1, beta: 2 / 3, eps: 1e-6 } as const;

/** log_alpha is clamped to [ln 0.01, ln 100] after every step (CoFi's constrain_parameters). */
export const LOG_ALPHA_RANGE = [Math.log(1e-2), Math.log(1e2)] as const;

/**
 * β·ln(−l/r): P(z ≠ 0) = sigmoid(log_alpha − this) (Louizos et al., eq. 12, with CoFi's
 * 1 − Q(s < 0) = sigmoid(log_alpha − β log(−l/r))).
 */
export const KEEP_SHIFT = HARD_CONCRETE.beta * Math.log(-HARD_CONCRETE.l / HARD_CONCRETE.r);

const sampleOp = E.defineOp<{ key: [number, number] }, Tensor>({
  name: 'hard_concrete',
  forward([logAlpha], { key }) {
    const z = E.Tensor.empty(logAlpha!.shape, 'f32', 'z#');
    const dz = E.Tensor.empty(logAlpha!.shape, 'f32', 'dz#');
    const { beta, l, r, eps } = HARD_CONCRETE;
    E.launch(PRUNING_KERNELS.hardConcrete, {
      tensors: { log_alpha: logAlpha!, z, dz },
      uniforms: { params: { n: logAlpha!.size, beta, l, r, eps, key: [...key] } },
      workgroups: E.grid1d(logAlpha!.size, 64),
    });
    return { output: z, saved: dz };
  },
  backward: ({ saved: dz }, g) => [E.mul(g, dz)],
});

/**
 * One hard-concrete sample per element of log_alpha: z ∈ [0, 1] with the shape of log_alpha,
 * differentiable in log_alpha. The uniform noise is the Philox stream of a fresh key from the
 * engine's random stream (reproducible from the engine seed).
 * @param key fixes the noise (tests)
 */
export function sampleHardConcrete(logAlpha: Tensor, key?: [number, number]): Tensor {
  return sampleOp([logAlpha], { key: key ?? E.getEngine().nextRandomKey() });
}

/** P(z ≠ 0) = sigmoid(log_alpha − β ln(−l/r)) elementwise, differentiable (CoFi's 1 − cdf_qz(0)). */
export function keepProbability(logAlpha: Tensor): Tensor {
  return E.sigmoid(E.addScalar(logAlpha, -KEEP_SHIFT));
}

/** Host version of keepProbability. */
export function keepProbabilityHost(logAlpha: number): number {
  return 1 / (1 + Math.exp(-(logAlpha - KEEP_SHIFT)));
}

/**
 * z for evaluation and for the final model, as CoFi computes it (L0Module._deterministic_z, after
 * FLOP's hardconcrete.py): the expected number of zeros n0 = round(size − Σ P(z ≠ 0)); the n0
 * entries with the smallest log_alpha get 0, the others keep the soft value
 * sigmoid(log_alpha / β · 0.8) (0.8 is CoFi's "magical number", from Wang et al. 2020).
 * @param logAlpha one group of log_alpha (one layer's heads, one layer's FFN units, all hidden dims,
 *   or a single whole-layer variable)
 * @returns z per entry (0 or the soft value)
 */
export function deterministicZ(logAlpha: ArrayLike<number>): Float64Array {
  const n = logAlpha.length;
  let expectedNonzero = 0;
  for (let i = 0; i < n; i++) expectedNonzero += keepProbabilityHost(logAlpha[i]!);
  const zeros = Math.round(n - expectedNonzero);
  const z = Float64Array.from({ length: n }, (_, i) => softMask(logAlpha[i]!));
  const order = [...Array(n).keys()].sort((a, b) => logAlpha[a]! - logAlpha[b]! || a - b);
  for (let k = 0; k < zeros; k++) z[order[k]!] = 0;
  return z;
}

/** CoFi's soft mask value sigmoid(log_alpha / β · 0.8) of a kept unit. */
export function softMask(logAlpha: number): number {
  return 1 / (1 + Math.exp(-((logAlpha / HARD_CONCRETE.beta) * 0.8)));
}
