import { expect } from 'chai';
import { classifierForwardFlops, encoderFlops, idealSpeedup, layerFlops } from '../../bench/flops.ts';
import { type BertConfig, namedConfig } from '../../models/config.ts';

/** H = 10, head size 3, 2 heads and FFN 7 dense; layers: (2 heads, FFN 7), (no MHA, FFN 5), (1 head, no FFN). */
function uneven(): { dense: BertConfig; pruned: BertConfig } {
  const base = { ...namedConfig('tiny'), hiddenSize: 10, headSize: 3, numHeads: 2, intermediateSize: 7, numLayers: 3, numLabels: 3 };
  return {
    dense: { ...base, layers: [0, 1, 2].map(() => ({ numHeads: 2, intermediateSize: 7 })) },
    pruned: {
      ...base,
      layers: [
        { numHeads: 2, intermediateSize: 7 },
        { numHeads: 0, intermediateSize: 5 },
        { numHeads: 1, intermediateSize: 0 },
      ],
    },
  };
}

describe('bench: FLOP counts', () => {
  it('equal a hand count for a small uneven structure (B = 2, S = 4, T = 8)', () => {
    const { dense, pruned } = uneven();
    const f = encoderFlops(pruned, 2, 4);
    // Layer 0, A = 6: QKV 2·8·10·18 = 2880, scores 2·2·2·4²·3 = 384, context 384, output 2·8·6·10 = 960, FFN 2·8·10·7·2 = 2240.
    expect(f.perLayer[0]).to.deep.equal({ qkv: 2880, scores: 384, context: 384, output: 960, ffn: 2240, total: 6848 });
    // Layer 1, no MHA: FFN 2·8·10·5·2 = 1600.
    expect(f.perLayer[1]).to.deep.equal({ qkv: 0, scores: 0, context: 0, output: 0, ffn: 1600, total: 1600 });
    // Layer 2, A = 3, no FFN: QKV 1440, scores 192, context 192, output 480.
    expect(f.perLayer[2]).to.deep.equal({ qkv: 1440, scores: 192, context: 192, output: 480, ffn: 0, total: 2304 });
    expect(f.total).to.equal(10752);
    expect(encoderFlops(dense, 2, 4).total).to.equal(3 * 6848);
    expect(idealSpeedup(dense, pruned, 2, 4)).to.be.closeTo(20544 / 10752, 1e-12);
    // Pooler 2·B·H·P = 2·2·10·10 = 400 and classifier 2·B·P·C = 2·2·10·3 = 120.
    expect(classifierForwardFlops(pruned, 2, 4)).to.equal(10752 + 400 + 120);
    expect(classifierForwardFlops({ ...pruned, poolerSize: 12 }, 2, 4)).to.equal(10752 + 2 * 2 * 10 * 12 + 2 * 2 * 12 * 3);
  });

  it('BERT-base at CoFi\'s batch 128 × 128 matches the closed form 2·T·(4H² + 2HI) + 4·B·S²·H per layer', () => {
    const c = namedConfig('base');
    const T = 128 * 128;
    const perLayer = 2 * T * (4 * 768 * 768 + 2 * 768 * 3072) + 4 * 128 * 128 * 128 * 768;
    expect(encoderFlops(c, 128, 128).total).to.equal(12 * perLayer);
    expect(layerFlops(768, 12, 64, 3072, 128, 128).total).to.equal(perLayer);
  });

  it('rejects non-positive batch or length', () => {
    expect(() => encoderFlops(namedConfig('tiny'), 0, 4)).to.throw(/positive integers/);
    expect(() => layerFlops(8, 1, 8, 8, 2, 1.5)).to.throw(/positive integers/);
  });
});
