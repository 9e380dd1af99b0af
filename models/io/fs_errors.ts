/**
 * File-system errors that say which path and what was being done.
 *
 * Node's own messages name the system call, not the file or the purpose ("ENOSPC: no space left on
 * device, write"), and some mislead: a recursive mkdir on a read-only mount reports ENOENT, and one
 * under /proc never returns. These helpers wrap the calls the loaders and writers make so that the
 * error reads `PATH: cannot WHAT: REASON (CODE)`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A failed file-system operation; `code` is the errno name (ENOSPC, EROFS, ...) when there is one. */
export class FileSystemError extends Error {
  constructor(
    readonly path: string,
    message: string,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FileSystemError';
  }
}

const REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a component of the path is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error (a failing disk or a network file system?)',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many levels of symbolic links',
  EFBIG: 'file too large for the file system',
  EXDEV: 'not on the same file system',
  EBUSY: 'resource busy',
};

/** An error from a Node system call (it has a string `code` and a `syscall`). */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException & { code: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** "no space left on the device (ENOSPC)" for a system error; the message of any other error. */
export function describeFsError(err: unknown): string {
  if (isSystemError(err)) return `${REASONS[err.code] ?? (err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ .*$/, '') || 'failed')} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** A FileSystemError `PATH: cannot DOING: REASON (CODE)` for a system error; other errors unchanged. */
export function fileError(file: string, doing: string, err: unknown): unknown {
  if (err instanceof FileSystemError || !isSystemError(err)) return err;
  return new FileSystemError(file, `${file}: cannot ${doing}: ${describeFsError(err)}`, err.code, { cause: err });
}

/** Runs `fn`, rethrowing a system error as `PATH: cannot DOING: REASON (CODE)`. */
export function withFileErrors<T>(file: string, doing: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fileError(file, doing, err);
  }
}

/**
 * Creates `dir` and its missing ancestors, one level at a time (Node's recursive mkdir never
 * returns for a path under /proc, and reports ENOENT instead of EROFS on a read-only mount).
 * @throws FileSystemError naming the directory that could not be created and why: an ancestor that
 *   is a file, a read-only file system, no permission, a pseudo file system that refuses new entries.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (;;) {
    const st = statOrUndefined(at);
    if (st !== undefined) {
      if (!st.isDirectory()) throw new FileSystemError(at, `${at} is a file, not a directory${missing.length > 0 ? `, so ${path.resolve(dir)} cannot be created` : ''}`, 'ENOTDIR');
      break;
    }
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (err) {
      if (isSystemError(err) && err.code === 'EEXIST' && statOrUndefined(d)?.isDirectory()) continue; // made concurrently
      if (isSystemError(err) && err.code === 'ENOENT') {
        // The parent exists (made or checked above), yet the entry cannot be made: a pseudo file
        // system such as /proc or /sys.
        throw new FileSystemError(d, `${d}: cannot create the directory: ${path.dirname(d)} does not accept new entries (a pseudo file system such as /proc or /sys?)`, err.code, { cause: err });
      }
      throw fileError(d, 'create the directory', err);
    }
  }
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch (err) {
    // ENOTDIR: an ancestor is a file; the walk up in makeDirectory finds and names it.
    if (isSystemError(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return undefined;
    throw fileError(p, 'inspect the path', err);
  }
}
