/**
 * The cells of Xia & Shin's comparison (multitask-vs-ensemble): with k tasks, strategies S and
 * budgets B (fractions of the encoder's prunable parameters kept),
 *   multitask: one encoder pruned for the k tasks at B (`webprune multitask --tasks all`);
 *   alone:     each task pruned by itself (`webprune multitask --tasks T`) at every budget of the
 *              single-task grid: B/k for each B (the even ensemble), any further --ensemble-budgets
 *              (the best ensemble searches them), and with --low-resource T also T at each B (T
 *              pruned alone at the multitask model's size).
 * Every cell is one multitask job in its own directory, so the runner's resume and skip-finished
 * apply as to any experiment; experiments/ensemble.ts turns the results into the table.
 */
import * as path from 'node:path';
import { getTask } from '../data/tasks.ts';
import type { MultitaskInput } from '../jobs/multitask.ts';
import type { StrategyName } from '../pruning/strategy.ts';
import type { Cell } from './cells.ts';

export interface MultitaskExperimentSettings {
  /** Experiment output directory. */
  out: string;
  model: string;
  tasks: string[];
  strategies: StrategyName[];
  /** The budgets B of the table. */
  budgets: number[];
  /** Further single-task budgets searched by the best ensemble (B/k is always there). */
  ensembleBudgets: number[];
  seeds: number[];
  lowResource?: string;
  fraction?: number;
  /** Options of every job (steps, learning rates, data, run loop). */
  job: Partial<MultitaskInput>;
  /** Options of the multitask cells only (task sampling, loss weights). */
  multitask: Partial<MultitaskInput>;
}

/** What a cell is in the comparison. */
export interface ComparisonCell {
  strategy: StrategyName;
  kind: 'multitask' | 'alone';
  /** The task of an 'alone' cell. */
  task?: string;
  budget: number;
  seed: number;
}

/** A budget as written in paths and tables: 6 significant digits (B/k of 0.1 and 3 tasks is 0.0333333). */
export function roundBudget(b: number): number {
  return Number(b.toPrecision(6));
}

/** A task name as a directory name (a tsv:DIR task has slashes). */
const dirName = (task: string) => task.replace(/[^A-Za-z0-9_.-]+/g, '_');

/** The budgets each task is pruned alone at, in increasing order. */
export function aloneBudgets(s: Pick<MultitaskExperimentSettings, 'tasks' | 'budgets' | 'ensembleBudgets' | 'lowResource'>, task: string): number[] {
  const k = s.tasks.length;
  const grid = [...s.budgets.map((B) => B / k), ...s.ensembleBudgets, ...(task === s.lowResource ? s.budgets : [])];
  return [...new Set(grid.map(roundBudget))].sort((a, b) => a - b);
}

/**
 * The comparison's cells, each with what it is.
 * @throws Error naming an unknown task
 */
export function multitaskComparisonCells(s: MultitaskExperimentSettings): Array<{ cell: Cell; what: ComparisonCell }> {
  const names = s.tasks.map((t) => getTask(t).name);
  const low = s.lowResource !== undefined ? { lowResource: s.lowResource, ...(s.fraction !== undefined ? { fraction: s.fraction } : {}) } : {};
  const out: Array<{ cell: Cell; what: ComparisonCell }> = [];
  const add = (what: ComparisonCell, dir: string, input: Partial<MultitaskInput>) => {
    const outDir = path.join(s.out, 'cells', dir);
    const job = { ...s.job, model: s.model, strategy: what.strategy, budget: what.budget, seed: what.seed, resume: true, ...input, out: outDir } as MultitaskInput;
    const id = `multitask-vs-ensemble/${dir}`;
    const column = what.kind === 'multitask' ? `${what.strategy}: multitask` : `${what.strategy}: ${what.task} alone`;
    out.push({ cell: { id, column, row: { budget: what.budget }, seed: what.seed, steps: [{ kind: 'multitask', out: outDir, input: job }], model: path.join(outDir, 'model') }, what });
  };
  for (const seed of s.seeds) {
    for (const strategy of s.strategies) {
      for (const B of s.budgets.map(roundBudget)) {
        add({ strategy, kind: 'multitask', budget: B, seed }, `${strategy}/multitask/budget-${B}/seed-${seed}`, { ...s.multitask, tasks: s.tasks, ...low });
      }
      s.tasks.forEach((task, i) => {
        for (const b of aloneBudgets(s, task)) {
          const alone = task === s.lowResource ? low : {};
          add({ strategy, kind: 'alone', task: names[i]!, budget: b, seed }, `${strategy}/alone-${dirName(names[i]!)}/budget-${b}/seed-${seed}`, { tasks: [task], ...alone });
        }
      });
    }
  }
  return out;
}
