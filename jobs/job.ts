/**
 * Running a job's body inside a Run, and what a job returns: its summary when done, or where it
 * stopped (continue with the same options and resume).
 */
import type { Fingerprint } from '../training/run/fingerprint.ts';
import { withProfile } from '../training/run/profile.ts';
import { Run, type RunHooks, type RunSettings, RunStopped, type StopReason } from '../training/run/run.ts';

export type JobResult<S> =
  | { status: 'done'; summary: S; out: string }
  | { status: 'stopped'; reason: StopReason; stage: string; step: number; out: string };

/** Context a caller may give a job besides its options. */
export interface JobContext {
  hooks?: RunHooks;
}

/**
 * Opens the run, runs `body` unless the run is already complete (under the engine profiler with
 * settings.profile), writes summary.json.
 * @param outputs the job's own files and folders in out (removed by overwrite)
 * @throws whatever body throws, except RunStopped (a 'stopped' result)
 */
export async function runJob<S>(
  job: string,
  settings: RunSettings,
  fingerprint: Fingerprint,
  outputs: readonly string[],
  context: JobContext,
  body: (run: Run) => Promise<S>,
): Promise<JobResult<S>> {
  const run = Run.open(job, settings, fingerprint, outputs, context.hooks);
  try {
    if (run.complete) {
      run.info(`the ${job} run in ${settings.out} is complete: nothing to do`);
      return { status: 'done', summary: run.storedSummary<S>(), out: settings.out };
    }
    const summary = await withProfile(settings.profile, `profile of the ${job} run's training steps`, () => body(run));
    run.finish(summary);
    return { status: 'done', summary, out: settings.out };
  } catch (err) {
    if (err instanceof RunStopped) {
      run.info(`stopped (${err.reason}) in the ${err.stage} stage at step ${err.step}; continue with the same command and --resume`);
      return { status: 'stopped', reason: err.reason, stage: err.stage, step: err.step, out: settings.out };
    }
    throw err;
  } finally {
    run.close();
  }
}
