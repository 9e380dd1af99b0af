import * as E from '../../engine/index.ts';
import { checkOp, useTestEngine } from '../helpers.ts';
import { permuteRef, zipWith } from '../reference/ndarray.ts';

// Strided kernels (copy_strided, binary, where, the softmax mask) pack shapes and strides of rank
// ≤ 8 as two vec4s; dimensions 4..7 live in the second one (lib/strided.wgsl dim8).
describe('strided indexing beyond rank 4 @gpu', () => {
  before(useTestEngine);

  it('permutes rank-6 tensors whose dimensions cannot merge', async () => {
    for (const perm of [[5, 3, 1, 0, 2, 4], [1, 0, 3, 2, 5, 4]]) {
      await checkOp({ name: `permute ${perm}`, shapes: [[2, 3, 4, 5, 3, 2]], gpu: ([x]) => E.permute(x!, perm), ref: ([x]) => permuteRef(x!, perm), gradTol: false });
    }
  });

  it('broadcasts a binary op over rank 6', async () => {
    await checkOp({
      name: 'add rank 6',
      shapes: [
        [2, 1, 3, 1, 2, 3],
        [1, 4, 1, 5, 1, 3],
      ],
      gpu: ([a, b]) => E.add(a!, b!),
      ref: ([a, b]) => zipWith(a!, b!, (x, y) => x + y),
      gradTol: false,
    });
  });
});
