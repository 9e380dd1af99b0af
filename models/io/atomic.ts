/**
 * Atomic file writes: the content goes to `PATH.tmp`, is flushed to disk (fsync), and is then renamed
 * over `PATH`, so a crash or an exception leaves either the old file or the complete new one, never
 * a half-written file (rename is atomic within one file system on POSIX).
 */
import * as fs from 'node:fs';
import { fileError, withFileErrors } from './fs_errors.ts';

/** Writes all of `bytes` at the file position of `fd`, looping over partial writes. */
export function writeAll(fd: number, bytes: ArrayBufferView): void {
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let done = 0;
  while (done < view.length) {
    // Chunks of at most 1 GiB: some platforms reject larger single writes.
    const n = fs.writeSync(fd, view, done, Math.min(view.length - done, 1 << 30));
    if (n <= 0) throw new Error(`write returned ${n} after ${done} of ${view.length} bytes`);
    done += n;
  }
}

/**
 * Creates `path` atomically: calls `write(fd)` on a fresh `path.tmp`, fsyncs it and renames it to
 * `path`. If `write` throws, the temporary file is removed and the error is rethrown; `path` is untouched.
 * @throws FileSystemError `PATH: cannot write the file: REASON (CODE)` when the file system fails
 *   (ENOSPC, EROFS, a missing directory, ...); whatever else `write` throws, unchanged.
 */
export function writeFileAtomicWith(path: string, write: (fd: number) => void): void {
  const tmp = `${path}.tmp`;
  const fd = withFileErrors(path, `write the file (creating ${tmp})`, () => fs.openSync(tmp, 'w'));
  try {
    write(fd);
    fs.fsyncSync(fd);
  } catch (err) {
    abandon(fd, tmp);
    throw fileError(path, 'write the file', err);
  }
  finish(fd, tmp, path);
}

/** writeFileAtomicWith for a writer that awaits (e.g. one streaming a decompressed file). */
export async function writeFileAtomicWithAsync(path: string, write: (fd: number) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp`;
  const fd = withFileErrors(path, `write the file (creating ${tmp})`, () => fs.openSync(tmp, 'w'));
  try {
    await write(fd);
    fs.fsyncSync(fd);
  } catch (err) {
    abandon(fd, tmp);
    throw fileError(path, 'write the file', err);
  }
  finish(fd, tmp, path);
}

/** Closes and removes a temporary file after a failed write (its own errors would hide the first one). */
function abandon(fd: number, tmp: string): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already failing
  }
  fs.rmSync(tmp, { force: true });
}

/** Closes the complete temporary file and renames it over `path`. */
function finish(fd: number, tmp: string, path: string): void {
  try {
    fs.closeSync(fd);
    fs.renameSync(tmp, path);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw fileError(path, `replace the file with ${tmp}`, err);
  }
}

/** Creates `path` atomically with the given content (a string is written as UTF-8). */
export function writeFileAtomic(path: string, content: string | ArrayBufferView): void {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  writeFileAtomicWith(path, (fd) => writeAll(fd, bytes));
}
