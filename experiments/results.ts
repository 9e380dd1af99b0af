/**
 * An experiment's table: cells grouped by (column, row), each group's target metric as the mean,
 * the standard deviation over seeds and the best seed (the paper reports single best runs), and
 * with a grid search the variant chosen per group on T's dev metric. Written as results.json,
 * results.csv and results.md.
 */
import type { CellResult } from './runner.ts';

/** Mean, sample standard deviation (0 for one value) and best of a metric over seeds. */
export interface Stat {
  mean: number;
  std: number;
  best: number;
  n: number;
}

/** One entry of the table. */
export interface TableEntry {
  column: string;
  row: Record<string, number>;
  /** Metrics (dev, and test with --report-split test) by name. */
  dev: Record<string, Stat>;
  test?: Record<string, Stat>;
  /** Cells that failed in this group. */
  failed: number;
  /** Grid search: the chosen variant (by the mean of the main dev metric). */
  chosen?: Record<string, unknown>;
  /** Curve: measured and ideal inference speedup of the group's models (mean over seeds). */
  speedup?: { measured: number; ideal: number };
  /** Mean sparsity of the group's models (fraction of prunable parameters removed). */
  sparsity?: number;
}

/** Mean, sample standard deviation and maximum. @throws Error for no values */
export function stat(values: readonly number[]): Stat {
  if (values.length === 0) throw new Error('stat: no values');
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance), best: Math.max(...values), n: values.length };
}

function stats(rows: ReadonlyArray<Record<string, number> | undefined>): Record<string, Stat> {
  const names = [...new Set(rows.flatMap((r) => Object.keys(r ?? {})))];
  return Object.fromEntries(names.map((k) => [k, stat(rows.map((r) => r?.[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)))]).filter(([, s]) => (s as Stat).n > 0));
}

const groupKey = (r: { column: string; row: Record<string, number> }) => `${r.column}|${JSON.stringify(r.row)}`;

/**
 * The table of cell results: one entry per (column, row) in first-seen order; with grid variants,
 * the variant with the best mean main dev metric.
 * @param speedups measured and ideal speedup by model directory (curve)
 */
export function tabulate(results: readonly CellResult[], mainMetric: string, speedups: ReadonlyMap<string, { measured: number; ideal: number }> = new Map()): TableEntry[] {
  const groups = new Map<string, CellResult[]>();
  for (const r of results) {
    const k = groupKey(r);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  return [...groups.values()].map((group) => {
    const variants = new Map<string, CellResult[]>();
    for (const r of group) {
      const v = JSON.stringify(r.variant ?? null);
      if (!variants.has(v)) variants.set(v, []);
      variants.get(v)!.push(r);
    }
    const score = (rs: CellResult[]) => stats(rs.filter((r) => r.status === 'done').map((r) => r.dev))[mainMetric]?.mean ?? -Infinity;
    const best = [...variants.values()].reduce((a, b) => (score(b) > score(a) ? b : a));
    const done = best.filter((r) => r.status === 'done');
    const entry: TableEntry = { column: group[0]!.column, row: group[0]!.row, dev: stats(done.map((r) => r.dev)), failed: group.filter((r) => r.status === 'failed').length };
    if (done.some((r) => r.test)) entry.test = stats(done.map((r) => r.test));
    if (best[0]!.variant) entry.chosen = best[0]!.variant;
    if (done.length) entry.sparsity = done.reduce((a, r) => a + (r.sparsity ?? 0), 0) / done.length;
    const measured = done.map((r) => speedups.get(r.model ?? '')).filter((s) => s !== undefined);
    if (measured.length) entry.speedup = { measured: stat(measured.map((s) => s.measured)).mean, ideal: stat(measured.map((s) => s.ideal)).mean };
    return entry;
  });
}

const fmt = (x: number) => (Math.abs(x) >= 10 ? x.toFixed(2) : x.toFixed(4));
const rowText = (row: Record<string, number>) => Object.entries(row).map(([k, v]) => `${k} ${v}`).join(', ');

/** "mean ± std (best b, n)" of a metric, or a dash. */
function cellText(s: Stat | undefined): string {
  return s ? `${fmt(s.mean)} ± ${fmt(s.std)} (best ${fmt(s.best)}, n=${s.n})` : '—';
}

/** The table as markdown: one line per row, one column per method, the main metric in each cell. */
export function markdownTable(entries: readonly TableEntry[], mainMetric: string, split: 'dev' | 'test'): string {
  const columns = [...new Set(entries.map((e) => e.column))];
  const rows = [...new Map(entries.map((e) => [JSON.stringify(e.row), e.row])).values()];
  const find = (c: string, row: Record<string, number>) => entries.find((e) => e.column === c && JSON.stringify(e.row) === JSON.stringify(row));
  const lines = [`| ${['', ...columns].join(' | ')} |`, `|${['', ...columns].map(() => '---').join('|')}|`];
  for (const row of rows) {
    const cells = columns.map((c) => {
      const e = find(c, row);
      if (!e) return '';
      const parts = [cellText((split === 'test' ? e.test : e.dev)?.[mainMetric])];
      if (e.speedup) parts.push(`speedup ${e.speedup.measured.toFixed(2)}× (ideal ${e.speedup.ideal.toFixed(2)}×)`);
      if (e.chosen) parts.push(`chosen ${Object.entries(e.chosen).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
      if (e.failed) parts.push(`${e.failed} failed`);
      return parts.join('<br>');
    });
    lines.push(`| ${[rowText(row) || `${split} ${mainMetric}`, ...cells].join(' | ')} |`);
  }
  return lines.join('\n');
}

const csvField = (v: unknown) => {
  const s = v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

/** One CSV line per (entry, split, metric): column, row keys, metric, mean, std, best, n, failed, chosen, speedups. */
export function csvTable(entries: readonly TableEntry[]): string {
  const rowKeys = [...new Set(entries.flatMap((e) => Object.keys(e.row)))];
  const header = ['column', ...rowKeys, 'split', 'metric', 'mean', 'std', 'best', 'n', 'failed', 'sparsity', 'speedup_measured', 'speedup_ideal', 'chosen'];
  const lines = [header.join(',')];
  for (const e of entries) {
    for (const [split, metrics] of [['dev', e.dev], ['test', e.test]] as const) {
      for (const [metric, s] of Object.entries(metrics ?? {})) {
        lines.push([e.column, ...rowKeys.map((k) => e.row[k]), split, metric, s.mean, s.std, s.best, s.n, e.failed, e.sparsity, e.speedup?.measured, e.speedup?.ideal, e.chosen].map(csvField).join(','));
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
