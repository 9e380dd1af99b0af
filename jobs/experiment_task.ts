/**
 * `webprune experiment task DIR/slurm/submission-K.json` (hidden): what one array task of a SLURM
 * submission runs (experiments/executors/slurm.ts writes the batch script). The task plans the
 * experiment again from the submission's options, checks that array index $SLURM_ARRAY_TASK_ID names
 * the cell that was submitted, with the same steps, and runs it (experiments/executors/slurm_task.ts).
 */
import * as fs from 'node:fs';
import type { Submission } from '../experiments/executors/slurm.ts';
import { taskLog } from '../experiments/executors/slurm.ts';
import { runSlurmTask } from '../experiments/executors/slurm_task.ts';
import { currentOwner } from '../experiments/lock.ts';
import { cellSpec } from '../experiments/runner.ts';
import { cellRunOptions, planExperiment, webpruneVersion } from './experiment.ts';

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
  const entry = submission.cells[index];
  if (!entry) throw new Error(`${submissionFile} has ${submission.cells.length} cells, no array index ${index}`);
  const plan = planExperiment(submission.experiment);
  const cell = plan.cells.find((c) => c.id === entry.id);
  if (!cell || cellSpec(cell) !== entry.spec) {
    throw new Error(`cell ${entry.id}: ${cell ? 'its jobs' : 'the cell'} as planned on this node differ from what was submitted (${submissionFile}): is the same webprune installed on every node?`);
  }
  info(`webprune ${mine}: cell ${cell.id} (array task ${arrayJob}_${index}, job ${jobId}${env['SLURM_RESTART_COUNT'] ? `, restart ${env['SLURM_RESTART_COUNT']}` : ''}) on ${env['SLURMD_NODENAME'] ?? 'this node'}`);
  return runSlurmTask({
    out: plan.o.out, cell, run: cellRunOptions(plan, { info }), owner: currentOwner(env), jobId,
    margin: plan.o.signalBefore, log: taskLog(plan.o.out, arrayJob, index), info,
  });
}
