/** What a pruning run writes besides the model: summary.json and structure.svg. */
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { StructureSummary } from './structure.ts';

/** The summary.json of `webprune prune`. */
export interface PruneSummary {
  task: string;
  transfer: string | null;
  method: string;
  seed: number;
  device: string;
  sparsity: {
    target: number;
    /** 1 − E[size]/dense at the end of pruning (the relaxed objective). */
    expected: number;
    /** 1 − remaining/dense counted on the compacted model. */
    achieved: number;
    /** Sparsity of CoFi's deterministic masks before fitting to the budget. */
    deterministic: number;
  };
  params: { prunable_dense: number; prunable_remaining: number };
  structure: { hidden: number; heads: number[]; intermediate: number[] };
  metrics: { before_finetune: Record<string, number>; dev: Record<string, number> };
  steps: { pruning: number; finetune: number };
  seconds: number;
  /** Units removed / restored beyond CoFi's deterministic masks to meet the budget. */
  budget_fit: { removed: number; restored: number };
  /** With several target sparsities: every sparsity's summary (the fields above are the last's). */
  by_sparsity?: PruneSummary[];
}

/**
 * Heads and FFN units kept per layer as two bar charts (like CoFi's Figures 6 and 7), as SVG.
 * @param dense heads and FFN width of the dense model
 */
export async function structureSvg(structure: StructureSummary, dense: { heads: number; intermediate: number }, title: string): Promise<string> {
  const panel = (what: string, values: number[], max: number) => ({
    title: `${what} kept per layer (of ${max})`,
    width: 280,
    height: 180,
    data: { values: values.map((kept, l) => ({ layer: l + 1, kept })) },
    mark: { type: 'bar' as const, color: '#4c78a8' },
    encoding: {
      x: { field: 'layer', type: 'ordinal' as const, title: 'layer' },
      y: { field: 'kept', type: 'quantitative' as const, title: what, scale: { domain: [0, max] }, axis: { format: 'd', tickMinStep: 1 } },
    },
  });
  const spec = compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: `hidden dims kept: ${structure.hidden}` },
    hconcat: [panel('attention heads', structure.heads, dense.heads), panel('FFN units', structure.intermediate, dense.intermediate)],
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  return view.toSVG();
}
