/**
 * Text input files (TSV, JSONL, JSON, vocab.txt) read as UTF-8, refusing what is not, and input
 * quoted safely in error messages.
 *
 * Node decodes invalid UTF-8 into U+FFFD replacement characters without complaint, so a UTF-16
 * export (Excel's "Unicode text") or a binary file would otherwise surface as baffling errors that
 * echo raw bytes ("header lacks column ... (has "\u0000s\u0000e...")").
 */
import * as fs from 'node:fs';
import { withFileErrors } from './fs_errors.ts';

/** A file that is not UTF-8 text; the message names the file and what it looks like instead. */
export class TextEncodingError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'TextEncodingError';
  }
}

/** Offset of the first byte that is not part of a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let len: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [len, min] = [2, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [len, min] = [3, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [len, min] = [4, 0x10000];
    else return i;
    if (i + len > n) return i;
    let cp = b & (0xff >> (len + 1));
    for (let k = 1; k < len; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points beyond U+10FFFF are not UTF-8.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += len;
  }
  return -1;
}

/** 1-based line number of byte `offset`. */
function lineOf(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/**
 * Decodes the bytes of a text file that must be UTF-8 (a leading UTF-8 byte-order mark is dropped).
 * @param file names the file in errors.
 * @throws TextEncodingError for a UTF-16 or UTF-32 byte-order mark, NUL bytes (UTF-16 without a
 *   mark, or a binary file), or bytes that are not UTF-8 (naming the line and byte offset).
 */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  const head = (...b: number[]) => b.every((x, i) => bytes[i] === x);
  if (head(0xff, 0xfe) || head(0xfe, 0xff)) {
    throw new TextEncodingError(file, `is UTF-${head(0xff, 0xfe, 0, 0) || head(0, 0, 0xfe, 0xff) ? '32' : '16'} text (byte-order mark ${bytes[0]!.toString(16).toUpperCase()} ${bytes[1]!.toString(16).toUpperCase()}), not UTF-8; convert it, e.g. iconv -f UTF-16 -t UTF-8`);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    // UTF-16 text without a mark has a NUL in every other byte of ASCII characters.
    const sample = bytes.subarray(0, Math.min(bytes.length, 4096));
    let zeros = 0;
    for (const b of sample) if (b === 0) zeros++;
    const utf16 = zeros > sample.length / 4;
    throw new TextEncodingError(
      file,
      utf16
        ? 'looks like UTF-16 text (NUL bytes between characters), not UTF-8; convert it, e.g. iconv -f UTF-16 -t UTF-8'
        : `is not a text file: NUL byte at offset ${nul} (line ${lineOf(bytes, nul)}); expected UTF-8 text`,
    );
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    throw new TextEncodingError(file, `is not valid UTF-8: byte 0x${bytes[bad]!.toString(16).toUpperCase().padStart(2, '0')} at offset ${bad} (line ${lineOf(bytes, bad)}); save the file as UTF-8 (Latin-1 or Windows-1252 text? iconv -f WINDOWS-1252 -t UTF-8)`);
  }
  const start = head(0xef, 0xbb, 0xbf) ? 3 : 0;
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, bytes.length - start).toString('utf8');
}

/**
 * Reads a UTF-8 text file (see {@link decodeUtf8}).
 * @throws FileSystemError naming the file when it cannot be read; TextEncodingError when it is not UTF-8 text.
 */
export function readUtf8File(file: string): string {
  return decodeUtf8(withFileErrors(file, 'read the file', () => fs.readFileSync(file)), file);
}

/** Longest input echoed in an error message, in characters. */
export const MAX_ECHO = 200;

/**
 * A string from the input as it should appear in an error message: JSON-quoted (so control
 * characters and quotes are escaped) and cut to `max` characters with the total length noted.
 */
export function quoteInput(s: string, max = MAX_ECHO): string {
  if (s.length <= max) return JSON.stringify(s);
  return `${JSON.stringify(s.slice(0, max))}… (${s.length} characters)`;
}

/** Any JSON value from the input for an error message: its JSON text, cut to `max` characters. */
export function showInput(v: unknown, max = MAX_ECHO): string {
  if (v === undefined) return 'nothing';
  const text = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** A JSON.parse error message with control characters escaped and capped at `max` characters. */
export function jsonErrorMessage(err: unknown, max = MAX_ECHO): string {
  const msg = err instanceof Error ? err.message : String(err);
  const safe = msg.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return safe.length <= max ? safe : `${safe.slice(0, max)}…`;
}
