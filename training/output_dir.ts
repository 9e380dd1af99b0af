/**
 * Validation of a job's output directory before any work: a run that trains for an hour and then
 * fails to save, or never returns, because `--out` points somewhere it cannot write is the worst
 * kind of failure.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileSystemError, describeFsError, isSystemError, makeDirectory } from '../models/io/fs_errors.ts';

/** An output directory that cannot be used; the message names the option and the path. */
export class OutputDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputDirError';
  }
}

/**
 * statfs magic numbers of Linux pseudo file systems, where files are views of kernel state: proc,
 * sysfs, debugfs, tracefs, securityfs, cgroup, cgroup2, configfs, devpts, pstore, bpf.
 */
const PSEUDO_FILE_SYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x62656570, 'configfs'],
  [0x1cd1, 'devpts'],
  [0x6165676c, 'pstore'],
  [0xcafe4a11, 'bpf'],
]);

/** Path prefixes refused on any platform (where statfs types differ or are unavailable). */
const PSEUDO_ROOTS = ['/proc', '/sys'];

/** The deepest existing ancestor of `p` (p itself when it exists), resolved through symbolic links. */
function existingAncestor(p: string): string {
  let at = p;
  for (;;) {
    try {
      return fs.realpathSync(at);
    } catch {
      const parent = path.dirname(at);
      if (parent === at) return at;
      at = parent;
    }
  }
}

function insidePseudoRoot(p: string): string | undefined {
  return PSEUDO_ROOTS.find((r) => p === r || p.startsWith(`${r}/`));
}

/**
 * Checks that `dir` can hold a job's outputs, creating it (and missing parents) if needed, and
 * writes and removes a probe file in it, so that an unusable place fails now, in milliseconds,
 * rather than after the work. Never hangs (Node's recursive mkdir loops forever under /proc).
 * @param option the option the path came from, for the message (e.g. '--out').
 * @returns the absolute path of the directory.
 * @throws OutputDirError naming the option and path when: the path is empty; it is inside /proc,
 *   /sys or another pseudo file system (also through a symbolic link); it, or an ancestor, is a
 *   file; the directory cannot be created (read-only file system, no permission); or a file cannot
 *   be created in it (no space, no inodes, read-only).
 */
export function validateOutputDir(dir: string, option: string): string {
  const fail = (why: string): never => {
    throw new OutputDirError(`${option} ${dir}: ${why}`);
  };
  if (typeof dir !== 'string' || dir.trim() === '') return fail('an output directory is required');
  const abs = path.resolve(dir);
  const pseudo = insidePseudoRoot(abs);
  if (pseudo !== undefined) fail(`${pseudo} is a pseudo file system of kernel state, not a place for outputs`);
  const anchor = existingAncestor(abs);
  const linked = insidePseudoRoot(anchor);
  if (linked !== undefined) fail(`resolves into ${linked} (through a symbolic link), a pseudo file system of kernel state`);
  try {
    const type = PSEUDO_FILE_SYSTEMS.get(Number(fs.statfsSync(anchor).type));
    if (type !== undefined) fail(`${anchor} is on a ${type} pseudo file system, not a place for outputs`);
  } catch (err) {
    if (err instanceof OutputDirError) throw err;
    // statfs is unavailable on some platforms: the path checks above stand.
  }
  const st = fs.statSync(anchor);
  if (!st.isDirectory()) fail(anchor === abs ? 'is a file, not a directory' : `${anchor} is a file, not a directory`);
  try {
    makeDirectory(abs);
  } catch (err) {
    fail(err instanceof FileSystemError ? err.message : describeFsError(err));
  }
  const probe = path.join(abs, `.webprune-write-test-${process.pid}`);
  try {
    fs.writeFileSync(probe, 'probe\n');
  } catch (err) {
    fail(`cannot create files in it: ${isSystemError(err) ? describeFsError(err) : (err as Error).message}`);
  } finally {
    fs.rmSync(probe, { force: true });
  }
  return abs;
}
