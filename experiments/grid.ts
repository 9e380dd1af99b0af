/**
 * The hyper-parameter search of Dery et al. (Table 4) around any experiment: every cell of the base
 * experiment is run for each combination of the grid's values (each combination in its own
 * directory DIR/grid/KEY/), and the table keeps, per column and row, the combination with the best
 * mean dev metric (tabulate in results.ts), reporting which.
 *
 * The paper's grid: task weights (1,1) (1,2) (2,1); pruning lr 1e-4, 2e-5; fine-tuning lr 1e-4,
 * 2e-5; structure (log_alpha) lr 0.1, 0.01; δ l2 1e-2.
 */
import * as path from 'node:path';
import { type Cell, type CellSettings, type ExperimentName, experimentCells } from './cells.ts';

/** One searched hyper-parameter: its flag name and values. */
export interface GridAxis {
  name: 'task-weights' | 'lr' | 'finetune-lr' | 'reg-lr' | 'delta-l2';
  values: Array<number | number[]>;
}

export const PAPER_GRID: readonly GridAxis[] = [
  { name: 'task-weights', values: [[1, 1], [1, 2], [2, 1]] },
  { name: 'lr', values: [1e-4, 2e-5] },
  { name: 'finetune-lr', values: [1e-4, 2e-5] },
  { name: 'reg-lr', values: [0.1, 0.01] },
  { name: 'delta-l2', values: [1e-2] },
];

const AXES = PAPER_GRID.map((a) => a.name);

/**
 * Parses `name=v,v;name=v,...` (task weights as `a:b`, e.g. `task-weights=1:1,1:2`).
 * @throws Error naming an unknown axis or a value that is not a number
 */
export function parseGrid(text: string): GridAxis[] {
  return text.split(';').filter((p) => p.trim() !== '').map((part) => {
    const [name, list] = part.split('=').map((x) => x.trim());
    if (!AXES.includes(name as GridAxis['name']) || !list) throw new Error(`--grid: "${part}" is not NAME=V,V,... with NAME one of ${AXES.join(', ')}`);
    const values = list.split(',').map((v) => {
      const xs = v.split(':').map(Number);
      if (xs.some((x) => !Number.isFinite(x)) || (name === 'task-weights') !== (xs.length === 2)) throw new Error(`--grid: bad value "${v}" for ${name}${name === 'task-weights' ? ' (write a:b)' : ''}`);
      return name === 'task-weights' ? xs : xs[0]!;
    });
    return { name: name as GridAxis['name'], values };
  });
}

/** Every combination of the axes' values. */
function combinations(axes: readonly GridAxis[]): Array<Record<string, number | number[]>> {
  return axes.reduce<Array<Record<string, number | number[]>>>((acc, axis) => acc.flatMap((c) => axis.values.map((v) => ({ ...c, [axis.name]: v }))), [{}]);
}

/** The settings with one combination applied to the jobs it concerns. */
function apply(s: CellSettings, combo: Record<string, number | number[]>, out: string): CellSettings {
  const prune = { ...s.prune };
  const finetune = { ...s.finetune };
  for (const [name, v] of Object.entries(combo)) {
    if (name === 'task-weights') prune.taskWeights = finetune.taskWeights = v as number[];
    else if (name === 'lr') prune.lr = v as number;
    else if (name === 'finetune-lr') prune.finetuneLr = finetune.lr = v as number;
    else if (name === 'reg-lr') prune.regLr = v as number;
    else if (name === 'delta-l2') prune.deltaL2 = v as number;
  }
  return { ...s, out, prune, finetune };
}

/**
 * The cells of `base` for every combination of the grid, each tagged with its combination.
 * Task weights are searched only where there is a transfer task.
 */
export function gridCells(base: ExperimentName, s: CellSettings, axes: readonly GridAxis[]): Array<Cell & { variant: Record<string, unknown> }> {
  const used = axes.filter((a) => a.name !== 'task-weights' || s.transfer);
  return combinations(used).flatMap((combo) => {
    const key = Object.entries(combo).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(':') : v}`).join(',') || 'default';
    return experimentCells(base, apply(s, combo, path.join(s.out, 'grid', key))).map((c) => ({ ...c, id: `grid/${key}/${c.id}`, variant: combo }));
  });
}
