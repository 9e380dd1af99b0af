/**
 * The multitask-vs-ensemble table (Xia & Shin 2021): per strategy and budget B, one row each for
 *   multitask      one encoder pruned for all k tasks at B;
 *   even ensemble  each task's own model at B/k;
 *   best ensemble  each task's own model at a budget B_t of the single-task grid, the allocation
 *                  with Σ B_t ≤ B that maximises the mean of the tasks' main dev metrics, found
 *                  exhaustively over the grid;
 * one column per task (its main dev metric, mean over seeds) and their average. With a
 * low-resource task T: T's metric when pruned with the others at B against T pruned alone at B
 * (the same size) and T in the even ensemble (B/k).
 */
import { mainScore, TASK_METRIC_SEPARATOR } from '../jobs/multitask.ts';
import type { StrategyName } from '../pruning/strategy.ts';
import { type ComparisonCell, roundBudget } from './multitask_cells.ts';
import { renderSvg } from './plots.ts';
import type { CellResult } from './runner.ts';

/** One row of the table. */
export interface ComparisonRow {
  strategy: StrategyName;
  budget: number;
  model: 'multitask' | 'even ensemble' | 'best ensemble';
  /** Main dev metric per task (mean over seeds); absent where the cells failed or are missing. */
  scores: Record<string, number>;
  /** Mean over tasks of `scores` (null when a task has no score). */
  average: number | null;
  /** Ensembles: each task's budget. */
  allocation?: Record<string, number>;
  /** Seeds behind each score (the smallest over tasks). */
  n: number;
}

/** The low-resource task's comparison at one strategy and budget. */
export interface LowResourceRow {
  strategy: StrategyName;
  budget: number;
  /** T's main metric pruned with the other tasks at B. */
  multitask: number | null;
  /** T pruned alone at B. */
  alone: number | null;
  /** T alone at B/k (its model in the even ensemble). */
  even: number | null;
}

export interface ComparisonTable {
  tasks: string[];
  mainMetric: Record<string, string>;
  rows: ComparisonRow[];
  lowResource: LowResourceRow[] | null;
}

/** A task's score in a cell: its main metric (non-finite as 0, see mainScore), or undefined for a failed cell. */
function score(r: CellResult, task: string, metric: string): number | undefined {
  if (r.status !== 'done') return undefined;
  return mainScore({ [metric]: r.dev?.[`${task}${TASK_METRIC_SEPARATOR}${metric}`] ?? Number.NaN }, metric);
}

const mean = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

/** Mean over seeds of task scores, keyed by strategy|kind|task|budget. */
function scoreTable(cells: ReadonlyArray<{ what: ComparisonCell; result: CellResult }>, mainMetric: Record<string, string>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const { what, result } of cells) {
    const tasks = what.kind === 'alone' ? [what.task!] : Object.keys(mainMetric);
    for (const t of tasks) {
      const v = score(result, t, mainMetric[t]!);
      if (v === undefined) continue;
      const k = key(what.strategy, what.kind, t, what.budget);
      out.set(k, [...(out.get(k) ?? []), v]);
    }
  }
  return out;
}

const key = (strategy: string, kind: string, task: string, budget: number) => `${strategy}|${kind}|${task}|${roundBudget(budget)}`;

/**
 * The allocation of budgets to tasks, one per task from its grid, with Σ ≤ budget, maximising the
 * mean score: exhaustive (depth-first over the tasks, skipping partial sums already over budget).
 * Ties go to the smaller total budget, then to the earlier grid values.
 * @param options per task: [budget, score] pairs
 * @returns the chosen budget per task and the mean score, or null when no allocation fits
 */
export function bestAllocation(options: ReadonlyArray<ReadonlyArray<readonly [number, number]>>, budget: number): { budgets: number[]; mean: number } | null {
  const limit = budget * (1 + 1e-9) + 1e-12;
  let best: { budgets: number[]; total: number; sum: number } | null = null;
  const chosen: number[] = [];
  const visit = (t: number, total: number, sum: number) => {
    if (total > limit) return;
    if (t === options.length) {
      if (!best || sum > best.sum + 1e-12 || (Math.abs(sum - best.sum) <= 1e-12 && total < best.total - 1e-12)) best = { budgets: [...chosen], total, sum };
      return;
    }
    for (const [b, s] of options[t]!) {
      chosen.push(b);
      visit(t + 1, total + b, sum + s);
      chosen.pop();
    }
  };
  visit(0, 0, 0);
  const found = best as { budgets: number[]; sum: number } | null;
  return found ? { budgets: found.budgets, mean: found.sum / options.length } : null;
}

/**
 * The comparison table from the cells' results.
 * @param o.mainMetric each task's main metric; o.grid the single-task budgets the best ensemble may
 *   allocate (the same for every task: a low-resource task's extra runs at B are not among them)
 */
export function comparisonTable(
  cells: ReadonlyArray<{ what: ComparisonCell; result: CellResult }>,
  o: { tasks: string[]; mainMetric: Record<string, string>; strategies: StrategyName[]; budgets: number[]; grid: number[]; lowResource?: string },
): ComparisonTable {
  const scores = scoreTable(cells, o.mainMetric);
  const k = o.tasks.length;
  const rows: ComparisonRow[] = [];
  const row = (strategy: StrategyName, budget: number, model: ComparisonRow['model'], per: Array<number[] | undefined>, allocation?: number[]): ComparisonRow => {
    const present = o.tasks.map((t, i) => [t, per[i]] as const).filter((e): e is readonly [string, number[]] => e[1] !== undefined && e[1].length > 0);
    const s = Object.fromEntries(present.map(([t, v]) => [t, mean(v)]));
    const r: ComparisonRow = { strategy, budget, model, scores: s, average: present.length === k ? mean(Object.values(s)) : null, n: present.length ? Math.min(...present.map(([, v]) => v.length)) : 0 };
    if (allocation) r.allocation = Object.fromEntries(o.tasks.map((t, i) => [t, allocation[i]!]));
    return r;
  };
  const grid = [...new Set(o.grid.map(roundBudget))].sort((a, b) => a - b);
  const aloneGrid = (strategy: StrategyName, task: string): Array<[number, number[]]> =>
    grid.map((b) => [b, scores.get(key(strategy, 'alone', task, b))] as const).filter((e): e is readonly [number, number[]] => e[1] !== undefined && e[1].length > 0).map(([b, v]) => [b, v]);
  for (const strategy of o.strategies) {
    for (const B of o.budgets.map(roundBudget)) {
      rows.push(row(strategy, B, 'multitask', o.tasks.map((t) => scores.get(key(strategy, 'multitask', t, B)))));
      const even = roundBudget(B / k);
      rows.push(row(strategy, B, 'even ensemble', o.tasks.map((t) => scores.get(key(strategy, 'alone', t, even))), o.tasks.map(() => even)));
      const grids = o.tasks.map((t) => aloneGrid(strategy, t).map(([b, v]) => [b, mean(v)] as const));
      const best = grids.every((g) => g.length > 0) ? bestAllocation(grids, B) : null;
      if (best) rows.push(row(strategy, B, 'best ensemble', o.tasks.map((t, i) => scores.get(key(strategy, 'alone', t, best.budgets[i]!))), best.budgets));
      else rows.push({ strategy, budget: B, model: 'best ensemble', scores: {}, average: null, n: 0 });
    }
  }
  const T = o.lowResource;
  const lowResource = T === undefined ? null : o.strategies.flatMap((strategy) =>
    o.budgets.map(roundBudget).map((B): LowResourceRow => {
      const m = (kind: string, b: number) => {
        const v = scores.get(key(strategy, kind, T, b));
        return v?.length ? mean(v) : null;
      };
      return { strategy, budget: B, multitask: m('multitask', B), alone: m('alone', B), even: m('alone', roundBudget(B / k)) };
    }),
  );
  return { tasks: o.tasks, mainMetric: o.mainMetric, rows, lowResource };
}

const fmt = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(4));

/** The table as markdown: a section per strategy, a line per budget and model. */
export function comparisonMarkdown(t: ComparisonTable): string {
  const out: string[] = [];
  for (const strategy of [...new Set(t.rows.map((r) => r.strategy))]) {
    out.push(`## ${strategy}`, '');
    out.push(`| budget | model | ${t.tasks.map((x) => `${x} ${t.mainMetric[x]}`).join(' | ')} | average | budget per task |`);
    out.push(`|---|---|${t.tasks.map(() => '---').join('|')}|---|---|`);
    for (const r of t.rows.filter((x) => x.strategy === strategy)) {
      const per = r.allocation ? t.tasks.map((x) => `${x} ${r.allocation![x]}`).join(', ') : 'one encoder for all';
      out.push(`| ${r.budget} | ${r.model} | ${t.tasks.map((x) => fmt(r.scores[x])).join(' | ')} | ${fmt(r.average)} | ${per} |`);
    }
    out.push('');
  }
  if (t.lowResource) {
    out.push('## Low-resource task', '');
    out.push('| strategy | budget | pruned with the others (multitask, B) | pruned alone (B) | alone in the even ensemble (B/k) |', '|---|---|---|---|---|');
    for (const r of t.lowResource) out.push(`| ${r.strategy} | ${r.budget} | ${fmt(r.multitask)} | ${fmt(r.alone)} | ${fmt(r.even)} |`);
    out.push('');
  }
  return out.join('\n');
}

/** One CSV line per (strategy, budget, model, task) with the score, 'average' as a task. */
export function comparisonCsv(t: ComparisonTable): string {
  const lines = ['strategy,budget,model,task,metric,value,task_budget'];
  for (const r of t.rows) {
    for (const task of t.tasks) lines.push([r.strategy, r.budget, r.model, JSON.stringify(task), t.mainMetric[task], r.scores[task] ?? '', r.allocation?.[task] ?? r.budget].join(','));
    lines.push([r.strategy, r.budget, r.model, 'average', 'mean of main metrics', r.average ?? '', ''].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** The average main metric against the budget, a line per strategy and model, as SVG. */
export async function averageVsBudgetSvg(t: ComparisonTable, title: string): Promise<string> {
  const values = t.rows.filter((r) => r.average !== null).map((r) => ({ budget: r.budget, average: r.average, line: `${r.strategy}: ${r.model}` }));
  return renderSvg({
    title,
    width: 360,
    height: 240,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'budget', type: 'quantitative', title: 'budget B (fraction of prunable parameters kept)', scale: { type: 'log' } },
      y: { field: 'average', type: 'quantitative', title: 'average dev metric over tasks', scale: { zero: false } },
      color: { field: 'line', type: 'nominal', title: null, sort: null },
    },
  });
}
