import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { Bert } from '../../models/bert.ts';
import { type BertConfig, namedConfig, parameterCount } from '../../models/config.ts';
import { compact } from '../../pruning/compact.ts';
import { L0Module, MASK_TYPES, MaskParameters } from '../../pruning/l0_module.ts';
import { fitToBudget, summarize } from '../../pruning/structure.ts';
import { expectClose, freshSeed, useTestEngine, needData } from '../helpers.ts';

function smallConfig(): BertConfig {
  const base = namedConfig('tiny');
  return { ...base, vocabSize: 300, hiddenSize: 32, numHeads: 4, headSize: 8, intermediateSize: 48, numLayers: 3, maxPositionEmbeddings: 40, layers: [0, 1, 2].map(() => ({ numHeads: 4, intermediateSize: 48 })), numLabels: 3 };
}

function batch(rng: E.HostRandom, B: number, S: number, vocab: number) {
  return {
    inputIds: E.tensor(Int32Array.from({ length: B * S }, () => rng.int(vocab)), [B, S], 'i32'),
    tokenTypeIds: E.tensor(Int32Array.from({ length: B * S }, (_, i) => (i % S > S / 2 ? 1 : 0)), [B, S], 'i32'),
    attentionMask: E.tensor(Float32Array.from({ length: B * S }, (_, i) => (i % S < S - 2 * (i / S | 0) ? 1 : 0)), [B, S]),
  };
}

/** Random log_alpha spread over the range so that deterministic z prunes a mix of everything. */
function randomize(params: MaskParameters, rng: E.HostRandom): void {
  for (const t of params.parameters()) {
    const coarse = t.label.includes('head_layer') || t.label.includes('mlp');
    E.getEngine().queue.upload(t.buffer, Float32Array.from({ length: t.size }, () => (coarse ? 1 + 4 * rng.uniform() : -3 + 6 * rng.uniform())));
  }
}

describe('compaction @gpu', () => {
  before(useTestEngine);

  for (const target of [0.3, 0.6, 0.9]) {
    it(`the compacted model equals the masked model (target sparsity ${target})`, async () => {
      const seed = freshSeed();
      const rng = new E.HostRandom(seed);
      const config = smallConfig();
      const model = Bert.random(config, 'classification', seed);
      const params = new MaskParameters(config, MASK_TYPES, seed);
      randomize(params, rng);
      const l0 = new L0Module(config, params, MASK_TYPES);
      const fit = fitToBudget(config, await l0.deterministic(), await l0.logAlphas(), target, l0.denseSize);
      const achieved = 1 - fit.structure.params / l0.denseSize;
      expect(achieved, `seed=${seed}`).to.be.at.least(target - 1e-9);
      expect(achieved, `seed=${seed}`).to.be.below(target + 0.01);

      const inputs = batch(rng, 3, 13, config.vocabSize);
      const masked = E.tidy(() => {
        const masks = l0.fromHost(fit.masks);
        const { logits, encoder } = model.classify(inputs, { training: false, masks });
        return { logits, pooled: model.pool(encoder.sequence) };
      });
      const c = compact(config, 'classification', await model.values(), fit.masks);
      expect(c.config.hiddenSize).to.equal(fit.structure.hidden);
      expect(c.config.layers.map((l) => l.numHeads)).to.deep.equal(fit.structure.heads);
      expect(parameterCount(c.config).total).to.equal(fit.structure.params);
      const small = new Bert(c.config, 'classification', c.values);
      const compacted = E.tidy(() => {
        const { logits, encoder } = small.classify(inputs, { training: false });
        return { logits, pooled: small.pool(encoder.sequence) };
      });
      expectClose(await compacted.pooled.read(), await masked.pooled.read(), 1e-4, `pooled seed=${seed} structure=${JSON.stringify(fit.structure)}`);
      expectClose(await compacted.logits.read(), await masked.logits.read(), 1e-4, `logits seed=${seed}`);
      model.dispose();
      small.dispose();
      params.dispose();
    });
  }

  it('the compacted model equals the masked model on real MRPC batches @data', async function () {
    const { defaultDataDir } = await import('../../data/paths.ts');
    const { getTask } = await import('../../data/tasks.ts');
    const { loadTokenizer } = await import('../../data/tokenizer.ts');
    const { loadEncoded } = await import('../../jobs/inputs.ts');
    const { makeBatch } = await import('../../training/data.ts');
    const path = await import('node:path');
    const dataDir = defaultDataDir();
    needData(this, 'glue/MRPC', 'vocab/bert-base-uncased');
    const seed = freshSeed();
    const rng = new E.HostRandom(seed);
    const tokenizer = loadTokenizer(path.join(dataDir, 'vocab', 'bert-base-uncased'));
    const { encoded } = loadEncoded(getTask('mrpc'), dataDir, 'dev', tokenizer, 64, 16);
    const config = { ...smallConfig(), vocabSize: 30522, maxPositionEmbeddings: 64, numLabels: 2 };
    const model = Bert.random(config, 'classification', seed);
    const params = new MaskParameters(config, MASK_TYPES, seed);
    randomize(params, rng);
    const l0 = new L0Module(config, params, MASK_TYPES);
    const fit = fitToBudget(config, await l0.deterministic(), await l0.logAlphas(), 0.8, l0.denseSize);
    const c = compact(config, 'classification', await model.values(), fit.masks);
    const small = new Bert(c.config, 'classification', c.values);
    for (const start of [0, 8]) {
      const batch = makeBatch(encoded, [...Array(8).keys()].map((i) => start + i), false);
      const masked = await E.tidy(() => model.classify(batch.inputs, { training: false, masks: l0.fromHost(fit.masks) }).logits).read();
      const compacted = await E.tidy(() => small.classify(batch.inputs, { training: false }).logits).read();
      expectClose(compacted, masked, 1e-4, `MRPC dev batch at ${start} seed=${seed}`);
    }
    model.dispose();
    small.dispose();
    params.dispose();
  });

  it('meets the budget from log_alpha that never moved (a run too short to converge)', async () => {
    const config = namedConfig('mini');
    const params = new MaskParameters(config, MASK_TYPES, 5);
    const l0 = new L0Module(config, params, MASK_TYPES);
    for (const target of [0.4, 0.95, 0.98]) {
      const fit = fitToBudget(config, await l0.deterministic(), await l0.logAlphas(), target, l0.denseSize);
      const achieved = 1 - fit.structure.params / l0.denseSize;
      expect(achieved, `target ${target}`).to.be.within(target, target + 0.01);
      expect(fit.deterministicSparsity).to.be.below(0.3);
      expect(fit.removed).to.be.greaterThan(0);
      expect(summarize(config, fit.masks).params).to.equal(fit.structure.params);
    }
    params.dispose();
  });
});
