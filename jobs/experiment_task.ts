/**
 * `webprune experiment task DIR/slurm/submission-K.json` (hidden): what one array task of a SLURM
 * submission runs (experiments/executors/slurm.ts writes the batch script). The task plans the cells
 * again from the submission's options, with the planner the submission names, checks that array index
 * $SLURM_ARRAY_TASK_ID names the cell that was submitted, with the same steps, and runs it
 * (experiments/executors/slurm_task.ts).
 */
import * as fs from 'node:fs';
import type { ExperimentCell } from '../experiments/executors/executor.ts';
import type { Submission } from '../experiments/executors/slurm.ts';
import { taskLog } from '../experiments/executors/slurm.ts';
import { runSlurmTask } from '../experiments/executors/slurm_task.ts';
import { currentOwner } from '../experiments/lock.ts';
import { type RunCellsOptions, cellSpec } from '../experiments/runner.ts';
import type { RunHooks } from '../training/run/run.ts';
import { cellRunOptions, planExperiment, webpruneVersion } from './experiment.ts';
import { MULTITASK_PLANNER, multitaskCellRunOptions, planMultitaskExperiment } from './multitask_experiment.ts';

/** What a task needs from an experiment's options: its directory, cells, how to run one, the warning margin. */
interface TaskPlan {
  out: string;
  cells: readonly ExperimentCell[];
  run: (hooks: RunHooks) => RunCellsOptions;
  signalBefore: number;
}

/** Planners by the name a submission records: an experiment job that submits to SLURM adds its own. */
const PLANNERS: Record<string, (given: Record<string, unknown>) => TaskPlan> = {
  experiment: (given) => {
    const plan = planExperiment(given);
    return { out: plan.o.out, cells: plan.cells, run: (hooks) => cellRunOptions(plan, hooks), signalBefore: plan.o.signalBefore };
  },
  [MULTITASK_PLANNER]: (given) => {
    const plan = planMultitaskExperiment(given);
    return { out: plan.o.out, cells: plan.cells, run: (hooks) => multitaskCellRunOptions(plan, hooks), signalBefore: plan.o.signalBefore };
  },
};

/**
 * Runs the cell of this array task.
 * @returns the process's exit code: 0 done (or running in another job), 1 failed, 130 stopped with a checkpoint
 * @throws Error when not inside a SLURM array task, or when the submission does not match what this
 *   node's webprune plans (another version: the message names both)
 */
export async function experimentTaskJob(submissionFile: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const info = (m: string) => void process.stderr.write(`${m}\n`);
  const arrayJob = env['SLURM_ARRAY_JOB_ID'];
  const index = Number(env['SLURM_ARRAY_TASK_ID']);
  const jobId = env['SLURM_JOB_ID'];
  if (!arrayJob || !jobId || !Number.isInteger(index)) throw new Error('experiment task runs inside a SLURM array task (SLURM_ARRAY_JOB_ID, SLURM_ARRAY_TASK_ID and SLURM_JOB_ID are not all set)');
  const submission = JSON.parse(fs.readFileSync(submissionFile, 'utf8')) as Submission;
  const mine = webpruneVersion();
  if (submission.webprune !== mine) throw new Error(`${submissionFile} was submitted by webprune ${submission.webprune}, but this node runs webprune ${mine}: every node needs the same webprune`);
  const planner = PLANNERS[submission.planner];
  if (!planner) throw new Error(`${submissionFile}: unknown planner '${submission.planner}' (this webprune knows ${Object.keys(PLANNERS).join(', ')})`);
  const entry = submission.cells[index];
  if (!entry) throw new Error(`${submissionFile} has ${submission.cells.length} cells, no array index ${index}`);
  const plan = planner(submission.experiment);
  const cell = plan.cells.find((c) => c.id === entry.id);
  if (!cell || cellSpec(cell) !== entry.spec) {
    throw new Error(`cell ${entry.id}: ${cell ? 'its jobs' : 'the cell'} as planned on this node differ from what was submitted (${submissionFile}): is the same webprune installed on every node?`);
  }
  info(`webprune ${mine}: cell ${cell.id} (array task ${arrayJob}_${index}, job ${jobId}${env['SLURM_RESTART_COUNT'] ? `, restart ${env['SLURM_RESTART_COUNT']}` : ''}) on ${env['SLURMD_NODENAME'] ?? 'this node'}`);
  return runSlurmTask({
    out: plan.out, cell, run: plan.run({ info }), owner: currentOwner(env), task: `${arrayJob}_${index}`,
    margin: plan.signalBefore, log: taskLog(plan.out, arrayJob, index), info,
  });
}
