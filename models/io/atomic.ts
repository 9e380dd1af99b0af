/**
 * Atomic file writes: the content goes to `PATH.tmp`, is flushed to disk (fsync), and is then renamed
 * over `PATH`, so a crash or an exception leaves either the old file or the complete new one, never
 * a half-written file (rename is atomic within one file system on POSIX).
 */
import * as fs from 'node:fs';

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
 * @throws whatever `write` or the file system throws (e.g. ENOENT when the directory does not exist).
 */
export function writeFileAtomicWith(path: string, write: (fd: number) => void): void {
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    write(fd);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, path);
}

/** writeFileAtomicWith for a writer that awaits (e.g. one streaming a decompressed file). */
export async function writeFileAtomicWithAsync(path: string, write: (fd: number) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    await write(fd);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, path);
}

/** Creates `path` atomically with the given content (a string is written as UTF-8). */
export function writeFileAtomic(path: string, content: string | ArrayBufferView): void {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  writeFileAtomicWith(path, (fd) => writeAll(fd, bytes));
}
