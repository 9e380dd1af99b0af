/**
 * A run: one output directory that a job owns, its stages, and when it stops.
 *
 *   OUT/run.json         the run's record: fingerprint, finished stages with their results, seconds
 *   OUT/metrics.jsonl    one row per logged step (training/run/metrics_log.ts)
 *   OUT/checkpoint/      the running stage's newest checkpoint (training/run/checkpoint.ts)
 *   OUT/summary.json     written when the run completes
 *
 * A job runs as stages (`run.stage('prune', fn)`): a finished stage's result is recorded in run.json
 * and not run again on --resume; a stage with a training loop (training/run/loop.ts) checkpoints and
 * resumes inside. A run stops early, with a checkpoint, after --stop-after steps in this process,
 * after --time-limit seconds, or on SIGINT/SIGTERM (a second signal kills at once).
 *
 * Refused: a fresh run into a non-empty directory without --overwrite; --resume with a different
 * fingerprint (the message names each option or input that changed).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../models/io/atomic.ts';
import { validateOutputDir } from '../output_dir.ts';
import { type FoundCheckpoint, findCheckpoints } from './checkpoint.ts';
import { type Fingerprint, fingerprintDiff } from './fingerprint.ts';
import type { TrainingPhase } from './loop.ts';
import { MetricsLog } from './metrics_log.ts';

/** The run-loop options every training job takes (declared once in jobs/common_options.ts). */
export interface RunSettings {
  /** The output directory. */
  out: string;
  /** Continue the run in `out`. */
  resume: boolean;
  /** Replace a run (or other webprune outputs) in `out`. */
  overwrite: boolean;
  /** Checkpoint every n steps; 0: only when the run stops early. */
  checkpointEvery: number;
  /** Stop after this many steps in this process (with a checkpoint). */
  stopAfter?: number;
  /** Start no step after this many seconds of this process (then checkpoint and stop). */
  timeLimit?: number;
  /** A metrics.jsonl row every n steps. */
  logEvery: number;
  /** Profile the training steps (engine profiler) and write the report to this JSON file. */
  profile?: string;
}

/** Observers a test or a caller can attach. */
export interface RunHooks {
  /** Messages for the user; default: stderr. */
  info?: (message: string) => void;
  /**
   * Called after every step (1-based) with the phase (its name and state tensors); a throw aborts
   * the run. Tests use it to crash a run or corrupt its state at a chosen step.
   */
  onStep?: (phase: TrainingPhase, step: number) => void;
  /** No progress lines (a caller that reports progress itself, such as an experiment). */
  quiet?: boolean;
}

export type StopReason = 'stop-after' | 'time-limit' | 'signal';

/** Thrown by a training loop that stopped early; the job turns it into a 'stopped' result. */
export class RunStopped extends Error {
  constructor(
    readonly reason: StopReason,
    readonly stage: string,
    readonly step: number,
  ) {
    super(`stopped (${reason}) in the ${stage} stage at step ${step}`);
    this.name = 'RunStopped';
  }
}

/** --resume refused: the run in the directory was made by another job or with other settings. */
export class ResumeRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResumeRefusedError';
  }
}

interface StageRecord {
  result: unknown;
  metricsBytes: number;
}

interface RunRecord {
  version: 1;
  job: string;
  fingerprint: Fingerprint;
  stages: Record<string, StageRecord>;
  complete: boolean;
  /** Seconds spent on the run by every process so far (updated as it goes). */
  seconds: number;
}

/** What every checkpoint of a run stores besides the phase's own state. */
export interface RunCheckpointState {
  stage: string;
  metricsBytes: number;
  seconds: number;
}

/** Where a run's messages go: the hook, else stderr. */
const infoOf = (hooks: RunHooks) => hooks.info ?? ((m: string) => void process.stderr.write(`${m}\n`));

const RECORD = 'run.json';
const SUMMARY = 'summary.json';
/** Files and folders of a run, removed by --overwrite (besides the job's own outputs). */
const RUN_FILES = [RECORD, 'metrics.jsonl', 'checkpoint', SUMMARY];

function readRecord(file: string): RunRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read the run record (${(err as Error).message}); start a fresh run with --overwrite`);
  }
  const r = parsed as RunRecord;
  if (r === null || typeof r !== 'object' || r.version !== 1 || typeof r.stages !== 'object' || typeof r.fingerprint !== 'object') {
    throw new Error(`${file}: not a webprune run record; start a fresh run with --overwrite`);
  }
  return r;
}

export class Run {
  readonly metrics: MetricsLog;
  readonly checkpointRoot: string;
  readonly info: (message: string) => void;
  private readonly openedAt = performance.now();
  private readonly baseSeconds: number;
  private stepsTaken = 0;
  private signal: NodeJS.Signals | null = null;
  private current: string | null = null;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    if (this.signal) {
      this.close();
      process.kill(process.pid, sig);
      return;
    }
    this.signal = sig;
    this.info(`${sig}: stopping after this step with a checkpoint (signal again to abort)`);
  };

  private constructor(
    readonly settings: RunSettings,
    readonly hooks: RunHooks,
    private readonly record: RunRecord,
    private readonly resumeFrom: FoundCheckpoint<RunCheckpointState & Record<string, unknown>> | null,
  ) {
    this.info = infoOf(hooks);
    this.checkpointRoot = path.join(settings.out, 'checkpoint');
    const keep = resumeFrom?.state.metricsBytes ?? Math.max(0, ...Object.values(record.stages).map((s) => s.metricsBytes));
    this.metrics = new MetricsLog(path.join(settings.out, 'metrics.jsonl'), keep);
    this.baseSeconds = record.seconds;
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /**
   * Opens the run in settings.out: a fresh one, or with resume the one there.
   * @param job the job's name (recorded; a run of another job is refused)
   * @param outputs the job's own output files and folders in `out`, removed by --overwrite
   * @throws Error when out is a file, holds files and neither --resume nor --overwrite is given, or
   *   its run was made by another job or with a different fingerprint (naming what changed)
   */
  static open(job: string, settings: RunSettings, fingerprint: Fingerprint, outputs: readonly string[], hooks: RunHooks = {}): Run {
    const { out } = settings;
    validateOutputDir(out, '--out'); // a file, /proc, read-only or full: refused now (mkdir under /proc never returns)
    const recordFile = path.join(out, RECORD);
    const exists = fs.existsSync(recordFile);
    if (settings.resume && exists) {
      const record = readRecord(recordFile);
      if (record.job !== job) throw new ResumeRefusedError(`cannot resume ${out}: it holds a ${record.job} run, not a ${job} run`);
      const diff = fingerprintDiff(record.fingerprint, fingerprint);
      if (diff.length) {
        throw new ResumeRefusedError(`cannot resume ${out}: the run was started with other settings (${diff.join('; ')}); rerun with the original options, or pass --overwrite to start it again`);
      }
      const { latest: found, incomplete } = findCheckpoints<RunCheckpointState & Record<string, unknown>>(path.join(out, 'checkpoint'));
      for (const why of incomplete) infoOf(hooks)(`ignoring an incomplete checkpoint: ${why}`);
      if (found) record.seconds = Math.max(record.seconds, found.state.seconds);
      return new Run(settings, hooks, record, found && !record.stages[found.state.stage] ? found : null);
    }
    const entries = fs.existsSync(out) ? fs.readdirSync(out) : [];
    if (entries.length > 0) {
      if (!settings.overwrite) {
        const shown = entries.slice(0, 4).join(', ') + (entries.length > 4 ? ', ...' : '');
        const what = exists ? 'holds a run' : `is not empty (${shown})`;
        throw new Error(`--out ${out} ${what}: pass --resume to continue it, --overwrite to replace it, or choose another directory`);
      }
      for (const name of [...RUN_FILES, ...outputs]) fs.rmSync(path.join(out, name), { recursive: true, force: true });
    } else if (settings.resume) infoOf(hooks)(`no run in ${out} to resume: starting a fresh one`);
    fs.mkdirSync(out, { recursive: true });
    const record: RunRecord = { version: 1, job, fingerprint, stages: {}, complete: false, seconds: 0 };
    writeFileAtomic(recordFile, `${JSON.stringify(record, null, 1)}\n`);
    return new Run(settings, hooks, record, null);
  }

  /** True when the run in `out` already completed (a resumed complete run has nothing to do). */
  get complete(): boolean {
    return this.record.complete;
  }

  /** The summary of a complete run. @throws Error when it is missing */
  storedSummary<S>(): S {
    const file = path.join(this.settings.out, SUMMARY);
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as S;
    } catch (err) {
      throw new Error(`${file}: the run is complete but its summary cannot be read (${(err as Error).message})`);
    }
  }

  /** The stage running now. @throws Error outside a stage */
  get stageName(): string {
    if (!this.current) throw new Error('a training loop must run inside run.stage()');
    return this.current;
  }

  /**
   * Runs a stage once: a stage recorded as finished returns its recorded result without running.
   * The result must be JSON. Checkpoints of the stage are removed once it finishes.
   */
  async stage<T>(name: string, body: () => Promise<T>): Promise<T> {
    const done = this.record.stages[name];
    if (done) return done.result as T;
    if (this.current) throw new Error(`stage ${name} started inside stage ${this.current}`);
    this.current = name;
    try {
      const result = await body();
      this.record.stages[name] = { result, metricsBytes: this.metrics.bytes };
      this.saveRecord();
      fs.rmSync(this.checkpointRoot, { recursive: true, force: true });
      return result;
    } finally {
      this.current = null;
    }
  }

  /** The checkpoint to resume the current stage from (null for a fresh stage). */
  resumePoint(): FoundCheckpoint<RunCheckpointState & Record<string, unknown>> | null {
    return this.resumeFrom && this.resumeFrom.state.stage === this.current ? this.resumeFrom : null;
  }

  /** The common part of a checkpoint's state, now. */
  checkpointState(): RunCheckpointState {
    return { stage: this.stageName, metricsBytes: this.metrics.bytes, seconds: this.seconds() };
  }

  /** Why the run must stop before its next step, or null. */
  stopReason(): StopReason | null {
    if (this.signal) return 'signal';
    if (this.settings.stopAfter !== undefined && this.stepsTaken >= this.settings.stopAfter) return 'stop-after';
    const elapsed = (performance.now() - this.openedAt) / 1000;
    if (this.settings.timeLimit !== undefined && this.stepsTaken > 0 && elapsed >= this.settings.timeLimit) return 'time-limit';
    return null;
  }

  /** Counts a step taken in this process (for --stop-after). */
  countStep(): void {
    this.stepsTaken++;
  }

  /** Seconds spent on the run by every process, this one included. */
  seconds(): number {
    return this.baseSeconds + (performance.now() - this.openedAt) / 1000;
  }

  /** Records the time spent so far (called at log steps), so a killed process's time is counted. */
  heartbeat(): void {
    this.saveRecord();
  }

  /** Writes summary.json, marks the run complete and removes its checkpoints. */
  finish(summary: unknown): void {
    writeFileAtomic(path.join(this.settings.out, SUMMARY), `${JSON.stringify(summary, null, 2)}\n`);
    this.record.complete = true;
    this.saveRecord();
    fs.rmSync(this.checkpointRoot, { recursive: true, force: true });
  }

  /** Removes the signal handlers. */
  close(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private saveRecord(): void {
    this.record.seconds = this.seconds();
    writeFileAtomic(path.join(this.settings.out, RECORD), `${JSON.stringify(this.record, null, 1)}\n`);
  }
}
