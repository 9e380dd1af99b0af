/**
 * An experiment's figures as SVG (vega-lite): the method comparison with error bars (how, what, when),
 * heads and FFN units kept per layer with and without transfer (Figures 6, 7 of Dery et al.), the
 * metric against measured speedup (curve, Figure 4), and the metric against sparsity per training-set
 * size (data-size, Figures 1, 5).
 */
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { TableEntry } from './results.ts';
import type { CellResult } from './runner.ts';

/** Renders a vega-lite spec to SVG text. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const compiled = compile({ $schema: 'https://vega.github.io/schema/vega-lite/v5.json', ...spec } as never).spec;
  return new vega.View(vega.parse(compiled), { renderer: 'none' }).toSVG();
}

type Metric = { metric: string; split: 'dev' | 'test' };
const valueOf = (e: TableEntry, m: Metric) => (m.split === 'test' ? e.test : e.dev)?.[m.metric];

/** Bars of the main metric per method (mean) with ± std error bars. */
export function methodBars(entries: readonly TableEntry[], m: Metric, title: string): Record<string, unknown> {
  const values = entries.flatMap((e) => {
    const s = valueOf(e, m);
    return s ? [{ method: e.column, mean: s.mean, lo: s.mean - s.std, hi: s.mean + s.std }] : [];
  });
  return {
    title,
    width: 60 * Math.max(4, values.length),
    height: 220,
    data: { values },
    layer: [
      { mark: { type: 'bar', color: '#4c78a8' }, encoding: { x: { field: 'method', type: 'nominal', sort: null, title: null }, y: { field: 'mean', type: 'quantitative', title: `${m.split} ${m.metric}`, scale: { zero: false } } } },
      { mark: { type: 'rule' }, encoding: { x: { field: 'method', type: 'nominal', sort: null }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  };
}

/** Heads and FFN units kept per layer, one bar per method (the first seed's models). */
export function structureBars(results: readonly CellResult[], title: string): Record<string, unknown> {
  const firstSeed = Math.min(...results.map((r) => r.seed));
  const values = results
    .filter((r) => r.status === 'done' && r.seed === firstSeed && r.structure)
    .flatMap((r) => r.structure!.heads.map((h, l) => ({ method: r.column, layer: l + 1, heads: h, units: r.structure!.intermediate[l] })));
  const panel = (field: string, what: string) => ({
    title: `${what} kept per layer`,
    width: 320,
    height: 180,
    mark: 'bar',
    encoding: {
      x: { field: 'layer', type: 'ordinal' },
      xOffset: { field: 'method', sort: null },
      y: { field, type: 'quantitative', title: what, axis: { format: 'd', tickMinStep: 1 } },
      color: { field: 'method', sort: null },
    },
  });
  return { title, data: { values }, hconcat: [panel('heads', 'attention heads'), panel('units', 'FFN units')] };
}

/** One line per method: x from the table row or measurements, y the metric's mean. */
function lines(entries: readonly TableEntry[], m: Metric, x: { title: string; of: (e: TableEntry) => number | undefined }, series: { title: string; of: (e: TableEntry) => string }, title: string): Record<string, unknown> {
  const values = entries.flatMap((e) => {
    const s = valueOf(e, m);
    const xv = x.of(e);
    return s && xv !== undefined ? [{ x: xv, y: s.mean, series: series.of(e) }] : [];
  });
  return {
    title,
    width: 360,
    height: 240,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: x.title, scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: `${m.split} ${m.metric}`, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: series.title, sort: null },
    },
  };
}

/** Figure 4: the metric against the measured inference speedup, one line per method. */
export function speedupCurve(entries: readonly TableEntry[], m: Metric, title: string): Record<string, unknown> {
  return lines(entries, m, { title: 'measured inference speedup (×)', of: (e) => e.speedup?.measured }, { title: 'method', of: (e) => e.column }, title);
}

/** Figures 1, 5: the metric against sparsity, one line per training-set size. */
export function dataSizeCurves(entries: readonly TableEntry[], m: Metric, title: string): Record<string, unknown> {
  return lines(entries, m, { title: 'sparsity', of: (e) => e.row['sparsity'] }, { title: 'training data', of: (e) => e.column }, title);
}
