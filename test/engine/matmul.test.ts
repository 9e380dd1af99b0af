import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { AWKWARD, checkOp, describeEachDeviceClass } from '../helpers.ts';
import { matmulRef } from '../reference/ndarray.ts';

// Every check is judged against Σ|a||b| (absScale): a dot product of terms of both signs can cancel
// to near zero, and float32 GEMM error is a few ulps of Σ|a||b|, not of the result.
describeEachDeviceClass('matmul @gpu', () => {
  it('2-D at awkward sizes, all transpose combinations (forward)', async () => {
    for (const M of AWKWARD) {
      for (const [K, N] of [[33, 7], [129, 65], [1, 129]]) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const a = transA ? [K!, M] : [M, K!];
            const b = transB ? [N!, K!] : [K!, N!];
            await checkOp({ name: `matmul tA=${transA} tB=${transB}`, shapes: [a, b], gpu: ([x, y]) => E.matmul(x!, y!, { transA, transB }), ref: ([x, y]) => matmulRef(x!, y!, transA, transB), gradTol: false, absScale: true });
          }
        }
      }
    }
  });

  it('gradients for every transpose combination, with bias', async () => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const [M, K, N] = [7, 33, 5];
        await checkOp({
          name: `matmul+bias grad tA=${transA} tB=${transB}`,
          shapes: [transA ? [K, M] : [M, K], transB ? [N, K] : [K, N], [N]],
          gpu: ([x, y, b]) => E.matmul(x!, y!, { transA, transB, bias: b! }),
          ref: ([x, y, b]) => matmulRef(x!, y!, transA, transB, b!),
          absScale: true,
        });
      }
    }
  });

  it('a stacked activation times a 2-D weight (linear layer) folds into one GEMM', async () => {
    await checkOp({ name: 'linear', shapes: [[2, 7, 33], [5, 33], [5]], gpu: ([x, w, b]) => E.matmul(x!, w!, { transB: true, bias: b! }), ref: ([x, w, b]) => matmulRef(x!, w!, false, true, b!), absScale: true });
  });

  it('batched products (attention shapes), equal and broadcast batches', async () => {
    await checkOp({ name: 'bmm QKᵀ', shapes: [[2, 3, 7, 5], [2, 3, 7, 5]], gpu: ([q, k]) => E.matmul(q!, k!, { transB: true }), ref: ([q, k]) => matmulRef(q!, k!, false, true), absScale: true });
    await checkOp({ name: 'bmm PV', shapes: [[2, 3, 7, 7], [2, 3, 7, 5]], gpu: ([p, v]) => E.matmul(p!, v!), ref: ([p, v]) => matmulRef(p!, v!), absScale: true });
    await checkOp({ name: 'bmm broadcast b', shapes: [[3, 7, 5], [1, 5, 4]], gpu: ([a, b]) => E.matmul(a!, b!, { transA: false }), ref: ([a, b]) => matmulRef(a!, b!), absScale: true });
    await checkOp({ name: 'bmm transA, 2-D b', shapes: [[3, 5, 7], [5, 4]], gpu: ([a, b]) => E.matmul(a!, b!, { transA: true }), ref: ([a, b]) => matmulRef(a!, b!, true), absScale: true });
  });

  it('rejects mismatched shapes with both operands named', () => {
    const a = E.zeros([3, 4], 'f32', 'x');
    const b = E.zeros([5, 6], 'f32', 'w');
    expect(() => E.matmul(a, b)).to.throw(/matmul: x \[3, 4\] · w \[5, 6\]: inner dimensions 4 and 5 differ/);
  });
});
