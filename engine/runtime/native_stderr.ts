/**
 * Dropping known, harmless lines that native code (Dawn) writes straight to file descriptor 2.
 *
 * Dawn clamps adapter limits it cannot honour when it enumerates adapters (Limits.cpp,
 * NormalizeLimits) and says so with `dawn::WarningLog()`, a plain fprintf(stderr) with no callback
 * or level to turn off. On Mesa's lavapipe (and RADV) that is two lines, "Warning:
 * maxDynamic{Uniform,Storage}BuffersPerPipelineLayout artificially reduced from 1000000 to 16 ...",
 * on every adapter request, whatever limits the device is then asked for. Node cannot redirect a
 * descriptor, so this calls libc's dup/dup2 through koffi (an FFI library shipping prebuilt
 * binaries): fd 2 points at a temporary file while the native call runs, then is restored, and
 * everything captured except the known lines is written back to stderr. Where koffi or libc is not
 * available the call simply runs unfiltered.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

interface Libc {
  dup(fd: number): number;
  dup2(from: number, to: number): number;
  close(fd: number): number;
}

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== 'linux' && process.platform !== 'darwin') return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load(process.platform === 'darwin' ? 'libSystem.dylib' : 'libc.so.6');
    libc = { dup: lib.func('int dup(int)'), dup2: lib.func('int dup2(int, int)'), close: lib.func('int close(int)') };
  } catch {
    // No koffi build for this platform, or another libc: run unfiltered.
  }
  return libc;
}

/** Whether native stderr can be filtered here (koffi loads and libc has dup/dup2). */
export function canFilterNativeStderr(): boolean {
  return loadLibc() !== null;
}

/**
 * Runs `fn` with file descriptor 2 captured, then writes back what was written to it, less the
 * lines matching `drop`. Nested calls run unfiltered inside the outer one.
 * @returns what `fn` returns; its errors are rethrown after stderr is restored
 */
export async function withNativeStderrFiltered<T>(drop: readonly RegExp[], fn: () => Promise<T> | T): Promise<T> {
  const c = loadLibc();
  if (c === null || active) return fn();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-stderr-'));
  const file = path.join(dir, 'stderr');
  const capture = fs.openSync(file, 'w+');
  const saved = c.dup(2);
  if (saved < 0) {
    fs.closeSync(capture);
    fs.rmSync(dir, { recursive: true, force: true });
    return fn();
  }
  active = true;
  c.dup2(capture, 2);
  try {
    return await fn();
  } finally {
    c.dup2(saved, 2);
    c.close(saved);
    active = false;
    fs.closeSync(capture);
    const text = fs.readFileSync(file, 'utf8');
    fs.rmSync(dir, { recursive: true, force: true });
    const kept = text.split(/(?<=\n)/).filter((line) => line !== '' && !drop.some((re) => re.test(line)));
    if (kept.length > 0) process.stderr.write(kept.join(''));
  }
}

let active = false;

/** Dawn's limit-clamping notices (see the module comment). */
export const DAWN_LIMIT_NOTICES: readonly RegExp[] = [/^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?\n?$/];
