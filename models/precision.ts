/**
 * A model's inference precision (`--dtype f32|f16`): casting a loaded Bert's weights to f16 for
 * f16 inference (engine/ops/f16.ts, models/ops/f16_inference.ts).
 *
 * Matrices (Linear weights, embedding tables: all but a fraction of a percent of the parameters) are
 * stored in f16; vectors (biases, layer-norm gamma and beta) stay f32, since the kernels add and
 * scale in f32 anyway and their memory is negligible. The same forward (Bert.classify) then runs
 * in f16, because the engine's ops route on their inputs' dtype. Inference only: the cast model's
 * parameters take no gradient.
 */
import * as E from '../engine/index.ts';
import type { InferenceDType } from '../engine/index.ts';
import type { Bert } from './bert.ts';

/** Thrown when a weight does not fit f16's range (|w| > 65504): f16 inference would compute with ±Infinity. */
export class F16RangeError extends Error {
  constructor(tensor: string, maxAbs: number) {
    super(`--dtype f16: tensor ${tensor} has |w| = ${maxAbs} > ${E.F16_MAX}, past f16's range; run this model with --dtype f32`);
    this.name = 'F16RangeError';
  }
}

/** The precision a model's weights are stored in: f16 when any matrix is f16. */
export function modelDtype(model: Bert): InferenceDType {
  return [...model.params.values()].some((t) => t.dtype === 'f16') ? 'f16' : 'f32';
}

/**
 * Casts `model` in place for inference in `dtype` and freezes it (no parameter takes a gradient).
 * f32 leaves the weights as they are. f16 replaces every parameter of rank ≥ 2 by its f16 rounding
 * (engine cast: an adjacent f16, the nearest on lavapipe) and disposes the f32 original. Casting back to f32 is not offered: load
 * the model again (the f16 rounding cannot be undone).
 * @throws F16RangeError naming the tensor when a weight exceeds f16's range (the model is left unchanged);
 *   F16UnsupportedError when the adapter lacks 'shader-f16'
 */
export async function castModel(model: Bert, dtype: InferenceDType): Promise<void> {
  model.setTrainable(() => true, false);
  if (dtype === 'f32' || modelDtype(model) === 'f16') return;
  const matrices = [...model.params].filter(([, t]) => t.rank >= 2 && t.dtype === 'f32');
  // One reduction per matrix, read back together: the range check costs one round trip.
  const maxAbs = E.noGrad(() => E.tidy(() => E.concat(matrices.map(([, t]) => E.reshape(E.max(E.abs(E.reshape(t, [t.size])), 0), [1])), 0)));
  const values = await maxAbs.read();
  maxAbs.dispose();
  matrices.forEach(([name], i) => {
    if (!(values[i]! <= E.F16_MAX)) throw new F16RangeError(name, values[i]!);
  });
  for (const [name, t] of matrices) {
    const h = E.keep(E.cast(t, 'f16'));
    h.label = name;
    model.params.set(name, h);
    t.dispose();
  }
}
