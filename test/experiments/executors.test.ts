/**
 * The SLURM executor's parts that need no cluster (test/experiments/slurm.test.ts runs it against
 * one): sbatch's arguments and the batch script, squeue's output and SLURM durations, and the locks
 * that keep a cell or a shared job directory from running twice at once, with their stale owners.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { batchScript, sbatchArgs } from '../../experiments/executors/slurm.ts';
import { parseDuration, parseSqueue } from '../../experiments/executors/slurm_cli.ts';
import { type LockOwner, currentOwner, lockFileOf, lockHolder, tryLock, waitLock } from '../../experiments/lock.ts';
import { type Cell } from '../../experiments/cells.ts';
import { cellState, recordFailure } from '../../experiments/runner.ts';

describe('SLURM executor: arguments, script, squeue and durations', () => {
  it('sbatch arguments: the array with its cap, logs appended across requeues, the warning, then the pass-through options, extra ones last', () => {
    const args = sbatchArgs(
      { partition: 'gpu', account: 'lab', time: '4:00:00', gres: 'gpu:1', mem: '32G', sbatchArg: ['--qos=high', '--partition=other'], maxRunning: 3, signalBefore: 120 },
      { count: 7, jobName: 'webprune-how', logDir: '/shared/x/slurm/logs', chdir: '/home/me' },
    );
    expect(args).to.deep.equal([
      '--job-name=webprune-how', '--array=0-6%3', '--output=/shared/x/slurm/logs/%A_%a.out', '--open-mode=append', '--requeue', '--signal=B:USR2@120', '--chdir=/home/me',
      '--partition=gpu', '--account=lab', '--time=4:00:00', '--gres=gpu:1', '--mem=32G', '--qos=high', '--partition=other',
    ]);
    expect(sbatchArgs({ signalBefore: 60 }, { count: 1, jobName: 'j', logDir: '/l', chdir: '/c' })).to.include('--array=0-0');
  });

  it('the batch script ignores the early warning and execs webprune, every word quoted for the shell', () => {
    const script = batchScript(['/opt/node 20/bin/node', "it's.mjs"], '/shared/x/slurm/submission-1.json');
    expect(script).to.match(/^#!\/bin\/bash\n/);
    expect(script).to.include("\ntrap '' USR2\n");
    expect(script).to.include(`exec '/opt/node 20/bin/node' 'it'\\''s.mjs' experiment task /shared/x/slurm/submission-1.json\n`);
    // bash reads the words back as they were.
    const words = spawnSync('bash', ['-c', `set -- ${script.split('exec ')[1]!.trim()}; printf '%s\\n' "$@"`], { encoding: 'utf8' }).stdout.trim().split('\n');
    expect(words).to.deep.equal(['/opt/node 20/bin/node', "it's.mjs", 'experiment', 'task', '/shared/x/slurm/submission-1.json']);
  });

  it('parses squeue lines and SLURM durations', () => {
    expect(parseSqueue('12_0|RUNNING|None|node3\n12_1|PENDING|JobArrayTaskLimit|\n13|CANCELLED by 0|None|node1\n')).to.deep.equal([
      { id: '12_0', state: 'RUNNING', reason: 'None', node: 'node3' },
      { id: '12_1', state: 'PENDING', reason: 'JobArrayTaskLimit', node: '' },
      { id: '13', state: 'CANCELLED', reason: 'None', node: 'node1' },
    ]);
    const cases: Array<[string, number | null]> = [
      ['59', 3540], ['1:30', 90], ['2:03:04', 7384], ['1-02:03:04', 93784], ['2-05', 190800], ['1-00:30', 88200],
      ['UNLIMITED', null], ['NOT_SET', null], ['INVALID', null], ['', null],
    ];
    for (const [text, seconds] of cases) expect(parseDuration(text), text).to.equal(seconds);
  });
});

describe('cell and job-directory locks', () => {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-lock-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const me = (job: string | null = null): LockOwner => ({ ...currentOwner({}), job });
  /** A pid that no process has any more. */
  const deadPid = () => spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
  const never = async () => {
    throw new Error('squeue must not be asked');
  };

  it('one holder at a time; the lock names its owner and is released only by it', async () => {
    const target = path.join(dir, 'cells', 'how', 'seed-1');
    const a = await tryLock(target, me(), never);
    expect(a.held).to.equal(true);
    expect(JSON.parse(fs.readFileSync(lockFileOf(target), 'utf8')).pid).to.equal(process.pid);
    // Another owner on this host, alive (this process), sees it held.
    const other: LockOwner = { ...me(), since: 'later' };
    const b = await tryLock(target, other, never);
    expect(b.held).to.equal(false);
    if (!b.held) expect(b.owner.pid).to.equal(process.pid);
    expect(await lockHolder(target, other, never)).to.not.equal(null);
    if (a.held) a.release();
    expect(fs.existsSync(lockFileOf(target))).to.equal(false);
    expect((await tryLock(target, other, never)).held).to.equal(true);
  });

  it("a dead process's lock is stale and taken over; a SLURM job's lock lives as long as squeue says", async () => {
    const target = path.join(dir, 'step');
    fs.writeFileSync(lockFileOf(target), JSON.stringify({ job: null, host: os.hostname(), pid: deadPid(), since: 'then' }));
    expect(await lockHolder(target, me(), never)).to.equal(null);
    const got = await tryLock(target, me(), never);
    expect(got.held).to.equal(true);
    if (got.held) got.release();

    const asked: string[] = [];
    let alive: boolean | undefined = true;
    const jobAlive = async (job: string) => {
      asked.push(job);
      return alive;
    };
    const remote = { job: '77_3', host: 'another-node', pid: 12, since: 'then' };
    fs.writeFileSync(lockFileOf(target), JSON.stringify(remote));
    expect((await tryLock(target, me('80_0'), jobAlive)).held).to.equal(false);
    alive = undefined; // squeue cannot tell: counted as held
    expect((await tryLock(target, me('80_0'), jobAlive)).held).to.equal(false);
    alive = false; // the job ended (or was cancelled) without releasing it
    expect((await tryLock(target, me('80_0'), jobAlive)).held).to.equal(true);
    expect(asked).to.deep.equal(['77_3', '77_3', '77_3']);
    // A requeued job finds its own earlier lock: it is its own, whatever node it ran on.
    fs.writeFileSync(lockFileOf(target), JSON.stringify(remote));
    expect((await tryLock(target, me('77_3'), never)).held).to.equal(true);
  });

  it('waitLock waits for the holder to let go', async () => {
    const target = path.join(dir, 'shared-step');
    const first = await tryLock(target, me(), never);
    let waitedFor: LockOwner | null = null;
    const second = waitLock(target, { ...me(), since: 'second' }, never, { pollMs: 20, onWait: (o) => (waitedFor = o) });
    await new Promise((r) => setTimeout(r, 100));
    expect(waitedFor).to.not.equal(null);
    if (first.held) first.release();
    const release = await second;
    expect(JSON.parse(fs.readFileSync(lockFileOf(target), 'utf8')).since).to.equal('second');
    release();
  });

  it("the runner's cell state: pending, running under a live lock, failed, and pending again when the lock is stale", async () => {
    const cell: Cell = { id: 'how/delta/seed-1', column: 'δ', row: {}, seed: 1, steps: [{ kind: 'restructure', out: path.join(dir, 'cells', 'x'), input: { weights: 'w', out: path.join(dir, 'cells', 'x') } as never }], model: 'm' };
    expect((await cellState(dir, cell, never)).state).to.equal('pending');
    // The cell's lock sits beside its record: results/ID.lock, ID.json.
    fs.mkdirSync(path.join(dir, 'results'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'results', 'how__delta__seed-1.lock'), JSON.stringify({ job: '5_1', host: 'node9', pid: 1, since: 'then' }));
    const running = await cellState(dir, cell, async () => true, me());
    expect(running.state).to.equal('running');
    if (running.state === 'running') expect(running.owner.job).to.equal('5_1');
    recordFailure(dir, cell, 'boom', '5_1', '/logs/5_1.out');
    expect((await cellState(dir, cell, async () => true, me())).state).to.equal('running');
    const failed = await cellState(dir, cell, async () => false, me());
    expect(failed.state).to.equal('failed');
    if (failed.state === 'failed') expect(failed.record.result).to.include({ error: 'boom', log: '/logs/5_1.out' });
    expect(fs.readdirSync(path.join(dir, 'results')).sort()).to.deep.equal(['how__delta__seed-1.json', 'how__delta__seed-1.lock']);
    // A record of other steps is out of date: the cell is pending.
    expect((await cellState(dir, { ...cell, steps: [] }, async () => false, me())).state).to.equal('pending');
  });
});
