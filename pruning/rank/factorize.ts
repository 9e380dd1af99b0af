/**
 * A dense model turned into its full-rank factorised form for rank pruning: every prunable Linear
 * W [out, in] becomes Q [out, r]·P [r, in] with r = min(out, in) (pruning/rank/svd.ts), so the
 * factorised model computes what the dense one does (up to float rounding) before any gate closes.
 * The configuration records the ranks (models/config.ts LayerStructure.ranks) and the tensors are
 * named `….weight_q` / `….weight_p` (models/io/checkpoint.ts): the result saves and loads as a model.
 */
import { type BertConfig, copyLayer, isFactorised, validateConfig } from '../../models/config.ts';
import type { HostTensor } from '../../models/io/checkpoint.ts';
import { prunableLinears } from '../budget.ts';
import { balancedFactors } from './svd.ts';

/**
 * The full-rank factorised configuration and values of a dense model (any head; tensors other
 * than the prunable weights are copied by reference).
 * @param onLinear progress callback (Linears done, total): SVDs of large models take minutes
 * @throws Error when the model is already factorised, or a weight is missing
 */
export function factorize(config: BertConfig, values: ReadonlyMap<string, HostTensor>, onLinear?: (done: number, total: number) => void): { config: BertConfig; values: Map<string, HostTensor> } {
  if (isFactorised(config)) throw new Error('factorize: the model is already factorised (its config.json has ranks)');
  const linears = prunableLinears(config);
  const out = new Map<string, HostTensor>();
  const weights = new Set(linears.map((l) => `${l.name}.weight`));
  for (const [name, t] of values) if (!weights.has(name)) out.set(name, t);
  const layers = config.layers.map(copyLayer);
  linears.forEach((l, done) => {
    const w = values.get(`${l.name}.weight`);
    if (!w) throw new Error(`factorize: missing tensor ${l.name}.weight`);
    const f = balancedFactors(w.data, l.out, l.in);
    out.set(`${l.name}.weight_q`, { shape: [l.out, f.rank], data: f.q });
    out.set(`${l.name}.weight_p`, { shape: [f.rank, l.in], data: f.p });
    const layer = layers[l.layer]!;
    layer.ranks = { ...layer.ranks, [l.kind]: f.rank };
    onLinear?.(done + 1, linears.length);
  });
  const factorised: BertConfig = { ...config, layers };
  validateConfig(factorised, 'factorize');
  return { config: factorised, values: out };
}
