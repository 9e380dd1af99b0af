import { expect } from 'chai';
import { HostRandom } from '../../engine/random.ts';
import { IGNORE_INDEX, maskTokens } from '../../data/mlm.ts';

/** A vocabulary like BERT's layout: specials at 0 ([PAD]), 1 ([UNK]), 2 ([CLS]), 3 ([SEP]), 4 ([MASK]). */
const vocab = { maskId: 4, vocabSize: 1000, specialIds: [0, 1, 2, 3, 4] };
const PAD = 0;
const CLS = 2;
const SEP = 3;

/** A batch of sequences `[CLS] words [SEP] [PAD]...` with `real` word tokens each (ids ≥ 5). */
function batch(rng: HostRandom, count: number, seqLength: number, real: (b: number) => number): Int32Array {
  const ids = new Int32Array(count * seqLength).fill(PAD);
  for (let b = 0; b < count; b++) {
    const n = real(b);
    const o = b * seqLength;
    ids[o] = CLS;
    for (let i = 1; i <= n; i++) ids[o + i] = 5 + rng.int(vocab.vocabSize - 5);
    ids[o + n + 1] = SEP;
  }
  return ids;
}

describe('mlm: maskTokens', () => {
  it('chooses round(15%) of the eligible positions per sequence (at least one), never special ones', () => {
    const rng = new HostRandom(1);
    const L = 64;
    const lengths = (b: number) => [0, 1, 2, 5, 20, 62, 33, 7][b % 8]!;
    const ids = batch(new HostRandom(9), 400, L, lengths);
    // A special id inside the text ([UNK]) is never chosen either.
    ids[3 * L + 2] = 1;
    const { inputIds, labels } = maskTokens(ids, vocab, rng, { seqLength: L });
    for (let b = 0; b < 400; b++) {
      const row = ids.subarray(b * L, (b + 1) * L);
      const eligible = Array.from(row).filter((t) => t >= 5).length;
      const chosen: number[] = [];
      for (let i = 0; i < L; i++) {
        const p = b * L + i;
        if (labels[p] !== IGNORE_INDEX) {
          chosen.push(i);
          expect(labels[p]).to.equal(ids[p]);
        } else expect(inputIds[p]).to.equal(ids[p]); // unchosen positions are untouched
        if (ids[p]! < 5) {
          expect(labels[p], `special at ${b}:${i}`).to.equal(IGNORE_INDEX);
          expect(inputIds[p]).to.equal(ids[p]);
        }
      }
      const want = eligible === 0 ? 0 : Math.max(1, Math.round(0.15 * eligible));
      expect(chosen.length, `sequence ${b} with ${eligible} eligible`).to.equal(want);
    }
  });

  it('replaces 80% by [MASK], 10% by a random token, keeps 10% (binomial 5σ bounds)', () => {
    const rng = new HostRandom(2);
    const L = 128;
    const ids = batch(new HostRandom(10), 2000, L, () => 126);
    const { inputIds, labels } = maskTokens(ids, vocab, rng, { seqLength: L });
    let chosen = 0;
    let masked = 0;
    let random = 0;
    let kept = 0;
    for (let p = 0; p < ids.length; p++) {
      if (labels[p] === IGNORE_INDEX) continue;
      chosen++;
      if (inputIds[p] === vocab.maskId) masked++;
      else if (inputIds[p] === ids[p]) kept++;
      else {
        random++;
        expect(inputIds[p]).to.be.at.least(5); // random replacements are never special ids
      }
    }
    expect(chosen).to.equal(2000 * Math.round(0.15 * 126));
    // A random draw equals the original with probability 1/995: it then counts as kept.
    const pRandomSame = 1 / (vocab.vocabSize - 5);
    const check = (count: number, p: number, what: string) => {
      const sigma = Math.sqrt((p * (1 - p)) / chosen);
      expect(Math.abs(count / chosen - p), `${what}: ${count / chosen} vs ${p} ± 5·${sigma.toFixed(5)}`).to.be.below(5 * sigma);
    };
    check(masked, 0.8, '[MASK]');
    check(random, 0.1 * (1 - pRandomSame), 'random');
    check(kept, 0.1 + 0.1 * pRandomSame, 'kept');
  });

  it('draws random replacements uniformly over the non-special ids', () => {
    const small = { maskId: 4, vocabSize: 25, specialIds: [0, 1, 2, 3, 4] };
    const rng = new HostRandom(3);
    const counts = new Array(25).fill(0);
    // Every position eligible and chosen (maskProb 1): 10% of them get a random id.
    const ids = new Int32Array(200000).fill(5);
    const { inputIds } = maskTokens(ids, small, rng, { maskProb: 1, seqLength: 100 });
    let total = 0;
    for (let p = 0; p < ids.length; p++) {
      if (inputIds[p] !== small.maskId) {
        counts[inputIds[p]!]++;
        total++;
      }
    }
    for (let id = 0; id < 5; id++) if (id !== 4) expect(counts[id]).to.equal(0);
    // id 5 also collects the 10% "kept"; the other 19 ids get total·0.1/0.2/20 each on average.
    const perId = (total * 0.5) / 20;
    let chi2 = 0;
    for (let id = 6; id < 25; id++) chi2 += (counts[id] - perId) ** 2 / perId;
    // χ² with 18 degrees of freedom: P(χ² > 42.3) = 0.001.
    expect(chi2).to.be.below(42.3);
  });

  it('is deterministic for a generator position and draws new masks on every call', () => {
    const ids = batch(new HostRandom(4), 8, 32, () => 30);
    const a = maskTokens(ids, vocab, new HostRandom(77), { seqLength: 32 });
    const b = maskTokens(ids, vocab, new HostRandom(77), { seqLength: 32 });
    expect(Array.from(a.inputIds)).to.deep.equal(Array.from(b.inputIds));
    expect(Array.from(a.labels)).to.deep.equal(Array.from(b.labels));
    const rng = new HostRandom(77);
    maskTokens(ids, vocab, rng, { seqLength: 32 });
    const saved = rng.position;
    const second = maskTokens(ids, vocab, rng, { seqLength: 32 });
    expect(Array.from(second.labels)).to.not.deep.equal(Array.from(a.labels));
    const resumed = new HostRandom(77);
    resumed.position = saved;
    expect(Array.from(maskTokens(ids, vocab, resumed, { seqLength: 32 }).inputIds)).to.deep.equal(Array.from(second.inputIds));
    expect(Array.from(maskTokens(ids, vocab, new HostRandom(78), { seqLength: 32 }).labels)).to.not.deep.equal(Array.from(a.labels));
  });

  it('rejects bad options', () => {
    const ids = new Int32Array(10).fill(7);
    expect(() => maskTokens(ids, vocab, new HostRandom(1), { seqLength: 3 })).to.throw('seqLength 3 does not divide the 10 ids');
    expect(() => maskTokens(ids, vocab, new HostRandom(1), { maskProb: 0 })).to.throw('maskProb must be in (0, 1]');
    expect(() => maskTokens(ids, { maskId: 0, vocabSize: 1, specialIds: [0] }, new HostRandom(1))).to.throw('no non-special ids');
  });
});
