import { expect } from 'chai';
import { cofiLikeStructure, denseOf, isDense, prunableSparsity, rankLikeStructure } from '../../bench/structures.ts';
import { encoderFlops, layerFlops } from '../../bench/flops.ts';
import { type BertConfig, namedConfig, parameterCount, validateConfig } from '../../models/config.ts';

describe('bench: CoFi-like structures', () => {
  it('hit the target sparsity within 0.5 points, for every size, sparsity and several seeds', () => {
    for (const name of ['tiny', 'mini', 'small', 'base']) {
      const dense = namedConfig(name);
      for (const s of [0, 0.1, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98]) {
        for (const seed of [0, 1, 2]) {
          const c = cofiLikeStructure(dense, s, seed);
          const got = prunableSparsity(dense, c);
          expect(Math.abs(got - s), `${name} s=${s} seed=${seed}: got ${got}`).to.be.below(0.005);
          validateConfig(c);
          expect(c.poolerSize).to.equal(dense.hiddenSize);
          expect(c.headSize).to.equal(dense.headSize);
        }
      }
    }
  });

  it('are deterministic from the seed, and the seed matters', () => {
    const dense = namedConfig('base');
    expect(cofiLikeStructure(dense, 0.9, 5)).to.deep.equal(cofiLikeStructure(dense, 0.9, 5));
    expect(cofiLikeStructure(dense, 0.9, 5).layers).to.not.deep.equal(cofiLikeStructure(dense, 0.9, 6).layers);
  });

  it('have CoFi\'s proportions: FFN pruned more than MHA, upper layers most, whole MHA layers dropped at high sparsity, hidden mildly', () => {
    const dense = namedConfig('base');
    const pd = parameterCount(dense);
    for (const s of [0.4, 0.7, 0.9, 0.95]) {
      for (const seed of [0, 1, 2]) {
        const c = cofiLikeStructure(dense, s, seed);
        const pc = parameterCount(c);
        const ctx = `s=${s} seed=${seed}`;
        expect(1 - pc.ffn / pd.ffn, `${ctx}: FFN sparsity above MHA sparsity`).to.be.greaterThan(1 - pc.mha / pd.mha);
        const lower = pc.perLayer.slice(0, 6).reduce((a, l) => a + l.mha + l.ffn, 0);
        const upper = pc.perLayer.slice(6).reduce((a, l) => a + l.mha + l.ffn, 0);
        expect(upper, `${ctx}: upper layers keep less`).to.be.lessThan(lower);
        expect(c.hiddenSize, `${ctx}: hidden mildly pruned`).to.be.within(0.75 * 768, 768);
        const noMha = c.layers.filter((l) => l.numHeads === 0).length;
        if (s >= 0.9) {
          expect(noMha, `${ctx}: whole MHA layers dropped`).to.be.greaterThan(0);
          expect(c.layers[11]!.numHeads, `${ctx}: the top layer's MHA goes first`).to.equal(0);
        }
        if (s <= 0.7) expect(noMha, ctx).to.equal(0);
        expect(c.layers.filter((l) => l.intermediateSize === 0).length, `${ctx}: FFN layers rarely dropped whole`).to.be.below(noMha + 1);
      }
    }
  });

  it('sparsity 0 is the dense model; invalid input is refused', () => {
    const dense = namedConfig('mini');
    expect(cofiLikeStructure(dense, 0)).to.deep.equal({ ...dense, poolerSize: dense.hiddenSize });
    expect(() => cofiLikeStructure(dense, 1)).to.throw(/\[0, 1\)/);
    expect(() => cofiLikeStructure(dense, -0.1)).to.throw(/\[0, 1\)/);
    expect(() => cofiLikeStructure(cofiLikeStructure(dense, 0.5), 0.7)).to.throw(/must be dense/);
  });

  it('count parameters of a hand example, and recover the dense config', () => {
    // Dense: H = 10, 2 heads of 3, FFN 5, 2 layers. MHA 4·10·6 + 3·6 + 10 = 268; FFN 2·10·5 + 5 + 10 = 115.
    const base = { ...namedConfig('tiny'), hiddenSize: 10, headSize: 3, numHeads: 2, intermediateSize: 5, numLayers: 2 };
    const dense: BertConfig = { ...base, layers: [0, 1].map(() => ({ numHeads: 2, intermediateSize: 5 })) };
    expect(parameterCount(dense).total).to.equal(2 * (268 + 115));
    // Pruned: H' = 8; layer 0 (2 heads, FFN 5): MHA 4·8·6 + 18 + 8 = 218, FFN 2·8·5 + 5 + 8 = 93; layer 1 (no MHA, FFN 4): 2·8·4 + 4 + 8 = 76.
    const pruned: BertConfig = { ...base, hiddenSize: 8, poolerSize: 10, layers: [{ numHeads: 2, intermediateSize: 5 }, { numHeads: 0, intermediateSize: 4 }] };
    expect(parameterCount(pruned).total).to.equal(218 + 93 + 76);
    expect(prunableSparsity(dense, pruned)).to.be.closeTo(1 - 387 / 766, 1e-12);
    expect(isDense(dense)).to.equal(true);
    expect(isDense(pruned)).to.equal(false);
    expect(denseOf(pruned)).to.deep.equal(dense);
  });

  it('rank-like structures: every Linear factorised at the same share, within one rank step under the target', () => {
    for (const name of ['tiny', 'mini', 'base']) {
      const dense = namedConfig(name);
      const total = parameterCount(dense).total;
      for (const s of [0.3, 0.7, 0.95]) {
        const c = rankLikeStructure(dense, s);
        validateConfig(c);
        const kept = parameterCount(c).total;
        expect(kept, `${name} ${s}`).to.be.at.most(Math.floor((1 - s) * total));
        expect(Math.floor((1 - s) * total) - kept, `${name} ${s}`).to.be.below(2 * (dense.hiddenSize + dense.intermediateSize));
        expect(c.layers.every((l) => Object.keys(l.ranks!).length === 6)).to.equal(true);
        expect(prunableSparsity(dense, c)).to.be.closeTo(s, 0.005);
        expect(denseOf(c).layers).to.deep.equal(dense.layers);
      }
    }
    expect(() => rankLikeStructure(namedConfig('tiny'), 0.9999)).to.throw(/fewer parameters than the biases/);
  });

  it('FLOPs of a factorised Linear are 2·T·r·(in + out)', () => {
    const dense = namedConfig('tiny');
    const c = { ...dense, layers: dense.layers.map((l, i) => (i === 0 ? { ...l, ranks: { query: 10, intermediate: 3 } } : l)) };
    const d = encoderFlops(dense, 2, 5).total;
    const T = 10;
    expect(encoderFlops(c, 2, 5).total).to.equal(d - 2 * T * 128 * 128 + 2 * T * 10 * 256 - 2 * T * 512 * 128 + 2 * T * 3 * 640);
    expect(layerFlops(128, 2, 64, 512, 2, 5).total).to.equal(encoderFlops(dense, 2, 5).perLayer[0]!.total);
  });
});
