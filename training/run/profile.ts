/**
 * `--profile FILE` of the training jobs and the benches: the engine profiler's report
 * (engine/runtime/profiler.ts) printed as a table on stderr and written as JSON.
 */
import * as E from '../../engine/index.ts';
import { writeFileAtomic } from '../../models/io/atomic.ts';

/** Prints the profile table to stderr and writes its JSON to `file` (atomically). */
export function writeProfile(report: E.ProfileReport, file: string, title: string): void {
  writeFileAtomic(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`\n${title}\n${E.formatProfile(report)}profile written to ${file}\n`);
}

/**
 * Runs `body` under the engine profiler when `file` is given, then writes the profile (also when
 * the body stops early or throws: the steps taken are worth seeing). Steps are marked by the run
 * loop (training/run/loop.ts: profileStepStart / profileStep), so evaluation, checkpoints and data
 * preparation between steps are left out.
 */
export async function withProfile<T>(file: string | undefined, title: string, body: () => Promise<T>): Promise<T> {
  if (!file) return body();
  const profiler = E.startProfiling(E.getEngine());
  let failed = false;
  try {
    return await body();
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    try {
      writeProfile(await profiler.stop(), file, title);
    } catch (err) {
      // A failure of the body is the error to report; a profile that cannot be written is not.
      if (!failed) throw err;
      process.stderr.write(`--profile: ${(err as Error).message}\n`);
    }
  }
}
