/**
 * A run's fingerprint: everything that changes its trajectory, as named entries (option flags such
 * as '--max-train', and inputs such as 'data mrpc/train' or 'vocabulary' by content hash). --resume
 * compares the saved fingerprint with the new one and refuses a difference, naming each entry.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Fingerprint = Readonly<Record<string, unknown>>;

/** SHA-256 (hex, first 16 digits) of typed arrays and strings, in order. */
export function hashContent(...parts: ReadonlyArray<ArrayBufferView | string>): string {
  const h = createHash('sha256');
  for (const p of parts) {
    if (typeof p === 'string') h.update(p, 'utf8');
    else h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * Content hash of the files of a model directory that define its weights and shape (config.json and
 * the safetensors files, in name order). Files are streamed, so large models cost one read.
 * @throws Error naming the directory when it cannot be read
 */
export function hashModelDir(dir: string): string {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f === 'config.json' || f.endsWith('.safetensors') || f.endsWith('.safetensors.index.json'))
    .sort();
  const h = createHash('sha256');
  const buffer = Buffer.alloc(1 << 20);
  for (const f of files) {
    h.update(`${f}\0`);
    const fd = fs.openSync(path.join(dir, f), 'r');
    try {
      for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) h.update(buffer.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** The entries that differ, as "NAME: saved → now" (entries only one side has count as differing). */
export function fingerprintDiff(saved: Fingerprint, now: Fingerprint): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
  return keys
    .filter((k) => JSON.stringify(saved[k] ?? null) !== JSON.stringify(now[k] ?? null))
    .map((k) => `${k}: ${JSON.stringify(saved[k] ?? null)} → ${JSON.stringify(now[k] ?? null)}`);
}
