import * as E from '../../engine/index.ts';
import { type BertConfig, namedConfig } from '../../models/config.ts';
import { L0Module, MASK_TYPES, MaskParameters } from '../../pruning/l0_module.ts';
import { fitToBudget } from '../../pruning/structure.ts';
await E.initEngine();
function smallConfig(): BertConfig {
  const base = namedConfig('tiny');
  return { ...base, vocabSize: 300, hiddenSize: 32, numHeads: 4, headSize: 8, intermediateSize: 48, numLayers: 3, maxPositionEmbeddings: 40, layers: [0, 1, 2].map(() => ({ numHeads: 4, intermediateSize: 48 })), numLabels: 3 };
}
let worst = 0; let fails = 0; let n = 0;
for (let seed = 1000; seed < 1400; seed++) {
  for (const target of [0.3, 0.6, 0.9]) {
    const rng = new E.HostRandom(seed);
    const config = smallConfig();
    const params = new MaskParameters(config, MASK_TYPES, seed);
    for (const t of params.parameters()) {
      const coarse = t.label.includes('head_layer') || t.label.includes('mlp');
      E.getEngine().queue.upload(t.buffer, Float32Array.from({ length: t.size }, () => (coarse ? 1 + 4 * rng.uniform() : -3 + 6 * rng.uniform())));
    }
    const l0 = new L0Module(config, params, MASK_TYPES);
    const fit = fitToBudget(config, await l0.deterministic(), await l0.logAlphas(), target, l0.denseSize);
    const achieved = 1 - fit.structure.params / l0.denseSize;
    n++;
    worst = Math.max(worst, achieved - target);
    if (achieved < target - 1e-9 || achieved >= target + 0.01) { fails++; console.log('FAIL', seed, target, achieved); }
    params.dispose();
  }
}
console.log(`cases ${n} fails ${fails} worst overshoot ${worst}`);
process.exit(0);
