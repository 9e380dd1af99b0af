/**
 * Compaction of a rank-pruned model: each factorised Linear keeps only the rank dimensions whose
 * z is non-zero, P' = P[kept, :] and Q' = Q[:, kept] ⊙ z[kept] (the gate folded into Q, as the
 * masked forward applies it), so y = (x·P'ᵀ)·Q'ᵀ + b equals the gated model's output: two smaller
 * GEMMs, out·r' + r'·in weights. A Linear left with rank 0 keeps only its bias. The configuration
 * records the new ranks (models/config.ts), so the result saves and loads as a model.
 */
import { type BertConfig, copyLayer, validateConfig } from '../../models/config.ts';
import type { HostTensor } from '../../models/io/checkpoint.ts';
import { rankLinears } from './rank_module.ts';

/**
 * The compacted configuration and values.
 * @param z host z per factorised Linear (by name, length = its rank); Linears without z are kept whole
 * @throws Error naming the Linear when z has the wrong length or a factor is missing
 */
export function compactRank(config: BertConfig, values: ReadonlyMap<string, HostTensor>, z: ReadonlyMap<string, ArrayLike<number>>): { config: BertConfig; values: Map<string, HostTensor> } {
  const out = new Map(values);
  const layers = config.layers.map(copyLayer);
  for (const l of rankLinears(config)) {
    const zl = z.get(l.name);
    if (!zl) continue;
    if (zl.length !== l.rank) throw new Error(`compactRank: z of ${l.name} has ${zl.length} values for rank ${l.rank}`);
    const kept = [...Array(l.rank).keys()].filter((i) => zl[i] !== 0);
    out.delete(`${l.name}.weight_p`);
    out.delete(`${l.name}.weight_q`);
    if (kept.length > 0) {
      const p = values.get(`${l.name}.weight_p`);
      const q = values.get(`${l.name}.weight_q`);
      if (!p || !q) throw new Error(`compactRank: missing factors of ${l.name}`);
      const r = kept.length;
      const p2 = new Float32Array(r * l.in);
      kept.forEach((src, j) => p2.set(p.data.subarray(src * l.in, (src + 1) * l.in), j * l.in));
      const q2 = new Float32Array(l.out * r);
      for (let o = 0; o < l.out; o++) kept.forEach((src, j) => (q2[o * r + j] = q.data[o * l.rank + src]! * zl[src]!));
      out.set(`${l.name}.weight_p`, { shape: [r, l.in], data: p2 });
      out.set(`${l.name}.weight_q`, { shape: [l.out, r], data: q2 });
    }
    layers[l.layer]!.ranks = { ...layers[l.layer]!.ranks, [l.kind]: kept.length };
  }
  const compacted: BertConfig = { ...config, layers };
  validateConfig(compacted, 'compactRank');
  return { config: compacted, values: out };
}
