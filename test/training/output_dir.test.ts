import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OutputDirError, validateOutputDir } from '../../training/output_dir.ts';
import { skipBecause } from '../helpers.ts';

/** Runs validateOutputDir in a child process with a deadline: a hang fails the test instead of the suite. */
function validateInChild(dir: string): { status: number | null; output: string; timedOut: boolean } {
  const script = `import('${path.resolve('training/output_dir.ts')}').then((m) => { try { console.log(m.validateOutputDir(${JSON.stringify(dir)}, '--out')); } catch (e) { console.log(e.message); process.exit(3); } })`;
  const r = spawnSync(process.execPath, ['--import', './scripts/ts-register.mjs', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim(), timedOut: r.error !== undefined };
}

/** Mounts a small tmpfs (root only); undefined where the machine does not allow it. */
function mountTmpfs(dir: string, options: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('output directories are validated before any work', () => {
  let root: string;
  const mounts: string[] = [];
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-outdir-'));
  });
  after(() => {
    for (const m of mounts) spawnSync('umount', [m]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('refuses /proc and /sys paths at once (Node\'s recursive mkdir never returns under /proc)', () => {
    for (const dir of ['/proc/foo', '/proc/self/x/y', '/sys/webprune']) {
      const r = validateInChild(dir);
      expect(r.timedOut, `${dir} hung`).to.equal(false);
      expect(r.status, r.output).to.equal(3);
      expect(r.output).to.match(new RegExp(`^--out ${dir}: /(proc|sys) is a pseudo file system of kernel state`));
    }
    const link = path.join(root, 'link');
    fs.symlinkSync('/proc/self', link);
    expect(() => validateOutputDir(path.join(link, 'out'), '--out')).to.throw(OutputDirError, /resolves into \/proc \(through a symbolic link\)/);
  });

  it('refuses a file, and a path under a file', () => {
    const file = path.join(root, 'file');
    fs.writeFileSync(file, 'x');
    expect(() => validateOutputDir(file, '--out')).to.throw(OutputDirError, `--out ${file}: is a file, not a directory`);
    expect(() => validateOutputDir(path.join(file, 'a', 'b'), '--save-dir')).to.throw(OutputDirError, `--save-dir ${path.join(file, 'a', 'b')}: ${file} is a file, not a directory`);
    expect(() => validateOutputDir('', '--out')).to.throw(OutputDirError, 'an output directory is required');
  });

  it('creates a missing directory, leaves no probe file, and accepts an existing one', () => {
    const dir = path.join(root, 'a', 'b', 'c');
    expect(validateOutputDir(dir, '--out')).to.equal(dir);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
    fs.writeFileSync(path.join(dir, 'kept'), 'x');
    expect(validateOutputDir(path.relative(process.cwd(), dir), '--out')).to.equal(dir);
    expect(fs.readdirSync(dir)).to.deep.equal(['kept']);
  });

  it('refuses a read-only file system and a full one, naming the reason', function () {
    const ro = path.join(root, 'ro');
    const full = path.join(root, 'full');
    if (!mountTmpfs(ro, 'ro,size=64k') || !mountTmpfs(full, 'size=8k')) {
      skipBecause(this, 'cannot mount a tmpfs here (needs root; CI runs as root)', 'provides');
    }
    mounts.push(ro, full);
    expect(() => validateOutputDir(path.join(ro, 'out', 'x'), '--out')).to.throw(OutputDirError, `--out ${path.join(ro, 'out', 'x')}: ${path.join(ro, 'out')}: cannot create the directory: read-only file system (EROFS)`);
    fs.mkdirSync(path.join(full, 'out'));
    try {
      fs.writeFileSync(path.join(full, 'filler'), Buffer.alloc(64 * 1024));
    } catch {
      // filled up
    }
    expect(() => validateOutputDir(path.join(full, 'out'), '--out')).to.throw(OutputDirError, /cannot create files in it: no space left on the device \(ENOSPC\)/);
  });
});
