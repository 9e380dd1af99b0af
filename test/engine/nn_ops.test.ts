import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { HostRandom, uniformStream } from '../../engine/random.ts';
import { AWKWARD, checkOp, describeEachDeviceClass, expectClose, freshSeed, randomArray, toTensor, useTestEngine } from '../helpers.ts';
import { NDArray } from '../reference/ndarray.ts';
import { crossEntropyRef, klDivRef, layerNormRef, softmaxRef } from '../reference/nn.ts';

describeEachDeviceClass('softmax @gpu', () => {
  it('softmax and log-softmax over the last axis at awkward sizes', async () => {
    for (const C of AWKWARD) {
      await checkOp({ name: 'softmax', shapes: [[7, C]], range: [-4, 4], gpu: ([x]) => E.softmax(x!), ref: ([x]) => softmaxRef(x!) });
      await checkOp({ name: 'log_softmax', shapes: [[3, C]], range: [-4, 4], gpu: ([x]) => E.logSoftmax(x!), ref: ([x]) => softmaxRef(x!, undefined, true) });
    }
  });

  it('with an attention mask broadcast over heads and query positions', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    // mask [B, 1, 1, S]: a large negative value at padded key positions. For log-softmax the
    // outputs there are about the mask value, so a float64 finite difference needs it moderate.
    const makeMask = (v: number) => NDArray.from(Array.from({ length: 2 * 7 }, (_, i) => (i % 7 >= 5 - Math.floor(i / 7) ? v : 0)), [2, 1, 1, 7]);
    const mask = makeMask(-1e9);
    const maskT = toTensor(mask);
    const logMask = makeMask(-1e4);
    const logMaskT = toTensor(logMask);
    await checkOp({ name: 'masked softmax', shapes: [[2, 3, 7, 7]], range: [-3, 3], gpu: ([x]) => E.softmax(x!, { mask: maskT }), ref: ([x]) => softmaxRef(x!, mask) });
    await checkOp({ name: 'masked log_softmax', shapes: [[2, 3, 7, 7]], range: [-3, 3], gpu: ([x]) => E.logSoftmax(x!, { mask: logMaskT }), ref: ([x]) => softmaxRef(x!, logMask, true) });
    // Masked positions get (numerically) zero probability.
    const p = await E.softmax(toTensor(randomArray(rng, [2, 3, 7, 7])), { mask: maskT }).read();
    expect(p[6]!, `seed=${seed}`).to.be.below(1e-30);
  });

  // Rows of 32, 64 and 128 (multiples of 4 × the subgroup size) take softmax_rows_cpu.wgsl on CPU
  // adapters: rows held in registers, a mask row shared per 64-row workgroup through shuffles.
  it('at attention row lengths, with shared, per-row and per-row-scalar masks', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    // −1e4 excludes a key position; a [rows, 1] mask only shifts its row (a large shift would round
    // x away in f32, an error of the test's making), so it gets the moderate values only.
    const mask = (shape: number[]) =>
      NDArray.from(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (shape.at(-1)! > 1 && rng.uniform() < 0.25 ? -1e4 : rng.uniform() - 0.5)), shape);
    for (const S of [32, 128]) {
      await checkOp({ name: `softmax S=${S}`, shapes: [[7, S]], range: [-4, 4], gpu: ([x]) => E.softmax(x!), ref: ([x]) => softmaxRef(x!), gradTol: false });
      await checkOp({ name: `log_softmax S=${S}`, shapes: [[3, S]], range: [-4, 4], gpu: ([x]) => E.logSoftmax(x!), ref: ([x]) => softmaxRef(x!, undefined, true), gradTol: false });
    }
    // [B, 1, 1, S] over [B, h, S', S]: h·S' = 128 rows share a mask row (aligned 64-row blocks);
    // h·S' = 15 do not; [1, S] is shared by every row; [rows, 1] adds one value per row.
    const cases: Array<{ x: number[]; m: number[] }> = [
      { x: [2, 2, 64, 32], m: [2, 1, 1, 32] },
      { x: [3, 5, 3, 64], m: [3, 1, 1, 64] },
      { x: [5, 33, 32], m: [1, 32] },
      { x: [65, 32], m: [65, 1] },
    ];
    for (const c of cases) {
      const m = mask(c.m);
      const mT = toTensor(m);
      await checkOp({ name: `masked softmax ${c.x}`, shapes: [c.x], range: [-4, 4], gpu: ([x]) => E.softmax(x!, { mask: mT }), ref: ([x]) => softmaxRef(x!, m), gradTol: false });
      await checkOp({ name: `masked log_softmax ${c.x}`, shapes: [c.x], range: [-4, 4], gpu: ([x]) => E.logSoftmax(x!, { mask: mT }), ref: ([x]) => softmaxRef(x!, m, true), gradTol: false });
    }
  });
});

describeEachDeviceClass('layer norm @gpu', () => {
  it('matches the float64 reference with gradients for x, gamma, beta', async () => {
    for (const C of [1, 7, 33, 129]) {
      await checkOp({
        name: 'layer_norm',
        shapes: [[5, C], [C], [C]],
        range: [[-2, 2], [0.5, 1.5], [-0.5, 0.5]],
        gpu: ([x, g, b]) => E.layerNorm(x!, g!, b!, { eps: 1e-5 }),
        ref: ([x, g, b]) => layerNormRef(x!, g!, b!, 1e-5),
        // C = 1 normalises every row to exactly beta: gradients are 0 and relative error is meaningless.
        gradTol: C === 1 ? false : 1e-4,
      });
    }
  });

  it('over kept hidden dims only (CoFi hidden_z), others pass through', async () => {
    const keep = NDArray.from([1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1], [13]);
    const keepT = toTensor(keep);
    await checkOp({
      name: 'layer_norm keep',
      shapes: [[2, 3, 13], [13], [13]],
      range: [[-2, 2], [0.5, 1.5], [-0.5, 0.5]],
      gpu: ([x, g, b]) => E.layerNorm(x!, g!, b!, { eps: 1e-12, keep: keepT }),
      ref: ([x, g, b]) => layerNormRef(x!, g!, b!, 1e-12, keep),
    });
  });

  it('parameter gradients over more than one block of 256 rows', async () => {
    await checkOp({ name: 'layer_norm rows', shapes: [[300, 7], [7], [7]], gpu: ([x, g, b]) => E.layerNorm(x!, g!, b!, { eps: 1e-12 }), ref: ([x, g, b]) => layerNormRef(x!, g!, b!, 1e-12), gradTol: false });
  });
});

describeEachDeviceClass('dropout @gpu', () => {
  it('drops exactly where the Philox stream is below p, scales the rest, and backward uses the same mask', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const key: [number, number] = [rng.int(2 ** 32), rng.int(2 ** 32)];
    const p = 0.3;
    const x = randomArray(rng, [33, 7]);
    const u = uniformStream(key, x.size);
    const ref = x.map((v, i) => (u[i]! >= p ? v / (1 - p) : 0));
    const xt = toTensor(x, true);
    const y = E.tidy(() => {
      const out = E.dropout(xt, p, true, key);
      E.backward(E.sum(out));
      return out;
    });
    expectClose(await y.read(), ref.data, 1e-6, `dropout seed=${seed}`);
    expectClose(await xt.grad!.read(), u.map((v) => (v >= p ? 1 / (1 - p) : 0)), 1e-6, `dropout grad seed=${seed}`);
  });

  it('draws fresh masks from the engine stream, reproducibly from the engine seed', async () => {
    const engine = E.getEngine();
    const x = E.ones([4096]);
    engine.setSeed(7);
    const a = await E.dropout(x, 0.1).read();
    const b = await E.dropout(x, 0.1).read();
    engine.setSeed(7);
    const a2 = await E.dropout(x, 0.1).read();
    expect([...a2]).to.deep.equal([...a]);
    expect([...b]).to.not.deep.equal([...a]);
    const dropped = a.filter((v) => v === 0).length / a.length;
    // Binomial(4096, 0.1): std 0.0047; 5 std.
    expect(dropped).to.be.closeTo(0.1, 0.024);
    expect(E.dropout(x, 0.1, false)).to.equal(x);
  });
});

describe('index ops @gpu', () => {
  before(useTestEngine);

  function indexSelectRef(x: NDArray, axis: number, idx: number[]): NDArray {
    const shape = [...x.shape];
    shape[axis] = idx.length;
    const out = NDArray.zeros(shape);
    return out.map((_, i) => {
      const at = out.unravel(i);
      at[axis] = idx[at[axis]!]!;
      return x.data[at.reduce((acc, v, d) => acc + v * x.strides[d]!, 0)]!;
    });
  }

  it('embedding lookup with repeated ids, deterministic scatter-add gradient', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const ids = Array.from({ length: 2 * 33 }, () => rng.int(7)); // many repeats of 7 rows
    const idsT = E.tensor(ids, [2, 33], 'i32');
    await checkOp({
      name: 'embedding',
      shapes: [[7, 5]],
      gpu: ([t]) => E.embedding(t!, idsT),
      ref: ([t]) => indexSelectRef(t!, 0, ids).reshape([2, 33, 5]),
      absScale: true, // each row's gradient sums the upstream rows of its ~9 repeats
    });
  });

  it('index_select along an inner axis', async () => {
    const idx = [2, 0, 2, 6, 1];
    const idxT = E.tensor(idx, [5], 'i32');
    await checkOp({ name: 'index_select axis 1', shapes: [[3, 7, 4]], gpu: ([x]) => E.indexSelect(x!, 1, idxT), ref: ([x]) => indexSelectRef(x!, 1, idx) });
  });

  it('gather along the last axis', async () => {
    const idx = [0, 2, 2, 1, 1, 0];
    const idxT = E.tensor(idx, [3, 2], 'i32');
    await checkOp({
      name: 'gather',
      shapes: [[3, 3]],
      gpu: ([x]) => E.gather(x!, 1, idxT),
      ref: ([x]) => NDArray.from(idx.map((d, e) => x!.data[Math.floor(e / 2) * 3 + d]!), [3, 2]),
    });
  });

  it('gives the padding row no gradient (nn.Embedding padding_idx)', async () => {
    const table = E.parameter(Float32Array.from({ length: 12 }, (_, i) => i), [4, 3], 'table');
    E.tidy(() => E.backward(E.sum(E.embedding(table, E.tensor([0, 2, 0, 1], [4], 'i32'), { paddingIdx: 0 }))));
    expect([...(await table.grad!.read())]).to.deep.equal([0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
  });

  it('rejects out-of-range ids naming the position', () => {
    expect(() => E.embedding(E.zeros([4, 2]), E.tensor([1, 4], [2], 'i32'))).to.throw(/index 4 at position 1 .* outside \[0, 4\)/);
  });
});

describe('losses @gpu', () => {
  before(useTestEngine);

  it('cross-entropy with ignore_index', async () => {
    const labels = [2, -100, 0, 6, 3, -100, 1];
    const labelsT = E.tensor(labels, [7], 'i32');
    await checkOp({ name: 'cross_entropy', shapes: [[7, 7]], range: [-3, 3], gpu: ([x]) => E.crossEntropy(x!, labelsT), ref: ([x]) => crossEntropyRef(x!, labels) });
    const many = Array.from({ length: 129 }, (_, i) => i % 33);
    await checkOp({ name: 'cross_entropy 129x33', shapes: [[129, 33]], gpu: ([x]) => E.crossEntropy(x!, E.tensor(many, [129], 'i32')), ref: ([x]) => crossEntropyRef(x!, many), gradTol: false });
  });

  it('mean squared error', async () => {
    await checkOp({ name: 'mse', shapes: [[33, 1], [33]], gpu: ([a, b]) => E.mseLoss(a!, b!), ref: ([a, b]) => NDArray.from([a!.data.reduce((acc, v, i) => acc + (v - b!.data[i]!) ** 2, 0) / 33], []) });
  });

  it('KL divergence with temperature (distillation)', async () => {
    await checkOp({ name: 'kl_div T=2', shapes: [[7, 5], [7, 5]], range: [-3, 3], gpu: ([s, t]) => E.klDivLoss(s!, t!, 2), ref: ([s, t]) => klDivRef(s!, t!, 2) });
  });
});
