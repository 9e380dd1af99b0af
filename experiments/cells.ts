/**
 * The cells of Dery, Hannun, Grangier's tables and figures ("Transfer Learning for Structured Pruning
 * under Limited Task Data"), each a short pipeline of jobs. T is the target task, A the transfer task.
 *
 * - how (Figures 2, 3): Prune(T) with no transfer, single-mask, multi-mask, δ-formulation (A).
 * - what (Table 1): no transfer; weights only (Prune(A) → a random structure at the sparsity over
 *   A's pruned weights → FT(T)); structure only (Prune(A)'s masks over the pretrained weights →
 *   FT(T)); both (Prune(A)'s compacted model → FT(T)). T is not seen before fine-tuning there.
 * - when (Table 2): no transfer; Prune(A) → FT(T); Prune(T) → FT(T, A) (mixed batches); Prune(T, A)
 *   → FT(T) with δ.
 * - curve (Figure 4): sparsity against measured speedup, without and with transfer.
 * - data-size (Figures 1, 5): CoFi at several sparsities on fractions of T's training data.
 * A cell's steps write to their own directories; a step shared by several cells (the same Prune(A)
 * for the three transfer columns of `what`) has one directory and runs once.
 */
import * as path from 'node:path';
import type { FinetuneInput } from '../jobs/finetune.ts';
import type { MultitaskInput } from '../jobs/multitask.ts';
import type { PruneInput } from '../jobs/prune.ts';
import type { RestructureInput } from '../jobs/restructure.ts';

/** One job of a cell. */
export type Step =
  | { kind: 'prune'; out: string; input: PruneInput }
  | { kind: 'finetune'; out: string; input: FinetuneInput }
  | { kind: 'restructure'; out: string; input: RestructureInput }
  | { kind: 'multitask'; out: string; input: MultitaskInput };

export interface Cell {
  /** Unique, also the cell's directory under DIR/cells/. */
  id: string;
  /** The table column (method). */
  column: string;
  /** The table row: sparsity, data fraction, ... (empty for a single-row table). */
  row: Record<string, number>;
  seed: number;
  steps: Step[];
  /** The directory of the cell's final model (the last step's). */
  model: string;
}

/** What every cell shares: the experiment's options in job terms. */
export interface CellSettings {
  /** Experiment output directory. */
  out: string;
  model: string;
  target: string;
  transfer?: string;
  sparsity: number;
  seeds: number[];
  /** Method of the transfer line in curve. */
  method: 'single-mask' | 'multi-mask' | 'delta';
  /** Options passed to every prune step (steps, lrs, batch, data ...). */
  prune: Partial<PruneInput>;
  /** Options passed to every fine-tuning step. */
  finetune: Partial<FinetuneInput>;
  sparsities: number[];
  fractions: number[];
  /** curve: one pruning run per method through every sparsity. */
  oneRun: boolean;
}

export const EXPERIMENTS = ['how', 'what', 'when', 'curve', 'data-size'] as const;
export type ExperimentName = (typeof EXPERIMENTS)[number];

/** A prune step's input: the shared options, this step's. */
function prune(s: CellSettings, seed: number, over: Partial<PruneInput> & { task: string }): PruneInput {
  return { ...s.prune, model: s.model, sparsity: [s.sparsity], seed, resume: true, ...over, out: '' } as PruneInput;
}

/** A fine-tuning step's input from a model directory. */
function finetune(s: CellSettings, seed: number, model: string, over: Partial<FinetuneInput> = {}): FinetuneInput {
  return { ...s.finetune, model, task: s.target, seed, resume: true, ...over, out: '' } as FinetuneInput;
}

/** Sets each step's output directory (relative names resolved under DIR) and the cell's model. */
function cell(s: CellSettings, id: string, column: string, row: Record<string, number>, seed: number, steps: Array<[string, Step['kind'], Step['input']]>, model: (dirs: string[]) => string): Cell {
  const built = steps.map(([dir, kind, input]) => {
    const out = path.join(s.out, dir);
    return { kind, out, input: { ...input, out } } as Step;
  });
  return { id, column, row, seed, steps: built, model: model(built.map((b) => b.out)) };
}

function needTransfer(s: CellSettings, experiment: string): string {
  if (!s.transfer) throw new Error(`experiment ${experiment} needs --transfer TASK`);
  return s.transfer;
}

const seedDir = (seed: number) => `seed-${seed}`;

function howCells(s: CellSettings): Cell[] {
  const A = needTransfer(s, 'how');
  const methods = [['no transfer', 'none'], ['single-mask', 'single-mask'], ['multi-mask', 'multi-mask'], ['δ-formulation', 'delta']] as const;
  return s.seeds.flatMap((seed) =>
    methods.map(([column, method]) => {
      const dir = `cells/how/${method}/${seedDir(seed)}`;
      const input = method === 'none' ? prune(s, seed, { task: s.target, method: 'none' }) : prune(s, seed, { task: s.target, transfer: A, method });
      return cell(s, `how/${method}/${seedDir(seed)}`, column, {}, seed, [[dir, 'prune', input]], ([d]) => path.join(d!, 'pruned'));
    }),
  );
}

function whatCells(s: CellSettings): Cell[] {
  const A = needTransfer(s, 'what');
  return s.seeds.flatMap((seed) => {
    const pruneA = `shared/prune-${A}/${seedDir(seed)}`;
    const pruneAStep: [string, 'prune', PruneInput] = [pruneA, 'prune', prune(s, seed, { task: A, method: 'none', saveMasked: true })];
    const pruneADir = path.join(s.out, pruneA);
    const reinit = { reinitHead: true };
    return [
      cell(s, `what/no-transfer/${seedDir(seed)}`, 'no transfer', {}, seed, [[`cells/what/no-transfer/${seedDir(seed)}`, 'prune', prune(s, seed, { task: s.target, method: 'none' })]], ([d]) => path.join(d!, 'pruned')),
      cell(s, `what/weights/${seedDir(seed)}`, 'weights only', {}, seed, [
        pruneAStep,
        [`cells/what/weights/${seedDir(seed)}/random-structure`, 'restructure', { weights: path.join(pruneADir, 'masked'), randomSparsity: s.sparsity, seed, resume: true, out: '' }],
        [`cells/what/weights/${seedDir(seed)}/finetune`, 'finetune', finetune(s, seed, path.join(s.out, `cells/what/weights/${seedDir(seed)}/random-structure`), reinit)],
      ], (d) => d.at(-1)!),
      cell(s, `what/structure/${seedDir(seed)}`, 'structure only', {}, seed, [
        pruneAStep,
        [`cells/what/structure/${seedDir(seed)}/pretrained-weights`, 'restructure', { weights: s.model, masks: path.join(pruneADir, 'masks.safetensors'), seed, resume: true, out: '' }],
        [`cells/what/structure/${seedDir(seed)}/finetune`, 'finetune', finetune(s, seed, path.join(s.out, `cells/what/structure/${seedDir(seed)}/pretrained-weights`), reinit)],
      ], (d) => d.at(-1)!),
      cell(s, `what/both/${seedDir(seed)}`, 'both', {}, seed, [
        pruneAStep,
        [`cells/what/both/${seedDir(seed)}/finetune`, 'finetune', finetune(s, seed, path.join(pruneADir, 'compacted'), reinit)],
      ], (d) => d.at(-1)!),
    ];
  });
}

function whenCells(s: CellSettings): Cell[] {
  const A = needTransfer(s, 'when');
  return s.seeds.flatMap((seed) => {
    const pruneA = `shared/prune-${A}/${seedDir(seed)}`;
    const pruneT = `cells/when/prune-T-ft-TA/${seedDir(seed)}/prune`;
    return [
      cell(s, `when/no-transfer/${seedDir(seed)}`, 'no transfer', {}, seed, [[`cells/when/no-transfer/${seedDir(seed)}`, 'prune', prune(s, seed, { task: s.target, method: 'none' })]], ([d]) => path.join(d!, 'pruned')),
      cell(s, `when/prune-A-ft-T/${seedDir(seed)}`, 'Prune(A) → FT(T)', {}, seed, [
        [pruneA, 'prune', prune(s, seed, { task: A, method: 'none', saveMasked: true })],
        [`cells/when/prune-A-ft-T/${seedDir(seed)}`, 'finetune', finetune(s, seed, path.join(s.out, pruneA, 'compacted'), { reinitHead: true })],
      ], (d) => d.at(-1)!),
      cell(s, `when/prune-T-ft-TA/${seedDir(seed)}`, 'Prune(T) → FT(T, A)', {}, seed, [
        [pruneT, 'prune', prune(s, seed, { task: s.target, method: 'none', finetuneSteps: 0 })],
        [`cells/when/prune-T-ft-TA/${seedDir(seed)}/finetune`, 'finetune', finetune(s, seed, path.join(s.out, pruneT, 'pruned'), { transfer: A })],
      ], (d) => d.at(-1)!),
      cell(s, `when/prune-TA-ft-T/${seedDir(seed)}`, 'Prune(T, A) → FT(T), δ', {}, seed, [[`cells/when/prune-TA-ft-T/${seedDir(seed)}`, 'prune', prune(s, seed, { task: s.target, transfer: A, method: 'delta' })]], ([d]) => path.join(d!, 'pruned')),
    ];
  });
}

function curveCells(s: CellSettings): Cell[] {
  const lines: Array<[string, Partial<PruneInput>]> = [['no transfer', { method: 'none' }]];
  if (s.transfer) lines.push([`transfer (${s.method})`, { transfer: s.transfer, method: s.method }]);
  return s.seeds.flatMap((seed) =>
    lines.flatMap(([column, over]) => {
      const key = over.method!;
      if (s.oneRun) {
        // One pruning run through every sparsity: each sparsity's model is in its own directory.
        const dir = `cells/curve/${key}/one-run/${seedDir(seed)}`;
        const step: [string, 'prune', PruneInput] = [dir, 'prune', prune(s, seed, { task: s.target, ...over, sparsity: s.sparsities })];
        return s.sparsities.map((sp) => cell(s, `curve/${key}/one-run/${sp}/${seedDir(seed)}`, column, { sparsity: sp }, seed, [step], ([d]) => path.join(d!, `sparsity-${sp}`, 'pruned')));
      }
      return s.sparsities.map((sp) => {
        const dir = `cells/curve/${key}/${sp}/${seedDir(seed)}`;
        return cell(s, dir.slice('cells/'.length), column, { sparsity: sp }, seed, [[dir, 'prune', prune(s, seed, { task: s.target, ...over, sparsity: [sp] })]], ([d]) => path.join(d!, 'pruned'));
      });
    }),
  );
}

function dataSizeCells(s: CellSettings): Cell[] {
  return s.seeds.flatMap((seed) =>
    s.fractions.flatMap((fraction) =>
      s.sparsities.map((sp) => {
        const dir = `cells/data-size/${fraction}/${sp}/${seedDir(seed)}`;
        const input = prune(s, seed, { task: s.target, method: 'none', sparsity: [sp], ...(fraction < 1 ? { trainFraction: fraction } : {}) });
        return cell(s, dir.slice('cells/'.length), `${fraction * 100}% of the data`, { fraction, sparsity: sp }, seed, [[dir, 'prune', input]], ([d]) => path.join(d!, 'pruned'));
      }),
    ),
  );
}

/**
 * The cells of an experiment.
 * @throws Error when the experiment needs --transfer and has none
 */
export function experimentCells(name: ExperimentName, s: CellSettings): Cell[] {
  switch (name) {
    case 'how':
      return howCells(s);
    case 'what':
      return whatCells(s);
    case 'when':
      return whenCells(s);
    case 'curve':
      return curveCells(s);
    case 'data-size':
      return dataSizeCells(s);
  }
}
