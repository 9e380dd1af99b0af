/**
 * The safetensors file format (https://github.com/huggingface/safetensors), read and written on the host.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (the header), then the data buffer.
 * The header maps each tensor name to `{"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}`
 * with byte offsets relative to the start of the data buffer, plus an optional
 * `"__metadata__": {string: string}`. Tensors are stored row-major (C order), little-endian.
 * Writers pad the header with spaces so that the data buffer starts at a multiple of 8 bytes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { writeAll, writeFileAtomicWith } from './atomic.ts';
import { describeNonFinite, multiIndex } from './finite.ts';
import { describeFsError } from './fs_errors.ts';
import { bf16ToF32Array, f16ToF32Array, f32FromBits, f32ToBf16Array, f32ToF16Array } from './half.ts';

/** Every dtype of the safetensors specification. */
export type SafetensorsDType =
  | 'BOOL' | 'U8' | 'I8' | 'U16' | 'I16' | 'F16' | 'BF16' | 'U32' | 'I32' | 'F32' | 'F64' | 'U64' | 'I64'
  | 'F8_E5M2' | 'F8_E4M3';

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<SafetensorsDType, number>> = {
  BOOL: 1, U8: 1, I8: 1, U16: 2, I16: 2, F16: 2, BF16: 2, U32: 4, I32: 4, F32: 4, F64: 8, U64: 8, I64: 8,
  F8_E5M2: 1, F8_E4M3: 1,
};

/** Dtypes {@link readSafetensors} can return: float ones as Float32Array, I64 as BigInt64Array, others as Int32Array. */
const READABLE = new Set<SafetensorsDType>(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'U16']);

/** Largest header accepted (bytes); real headers are a few hundred KB at most. */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor read from a file. `data` has prod(shape) elements in row-major order. */
export interface SafetensorsTensor {
  /** The dtype stored in the file (F16/BF16/F64 are converted to f32 in `data`). */
  dtype: SafetensorsDType;
  shape: number[];
  /** F32/F16/BF16/F64 → Float32Array; I64 → BigInt64Array; I32, I16, I8, U16, U8, BOOL → Int32Array. */
  data: Float32Array | BigInt64Array | Int32Array;
}

/** Contents of a safetensors file: tensors in header order, and the `__metadata__` map ({} if absent). */
export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** Header entry of one tensor, validated: byte offsets are relative to the data buffer. */
export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** A malformed or unsupported safetensors file. The message starts with the file path and names the tensor. */
export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly tensor?: string,
  ) {
    super(`${file}: ${tensor === undefined ? '' : `tensor "${tensor}": `}${message}`);
    this.name = 'SafetensorsError';
  }
}

function assertLittleEndian(): void {
  if (os.endianness() !== 'LE') throw new Error('safetensors: only little-endian hosts are supported');
}

const isNonNegInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Number of elements of `shape` (1 for a scalar `[]`). @throws Error if it exceeds 2^53. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) throw new Error(`shape [${shape.join(', ')}] has too many elements`);
  }
  return n;
}

/**
 * Parses and validates the header of a safetensors file held in `bytes`.
 * @param file the path, used in error messages only.
 * @returns the header entries in header order, the metadata, and the byte offset of the data buffer.
 * @throws SafetensorsError when: the file is shorter than 8 bytes; the header length is over
 *   {@link MAX_HEADER_BYTES} or runs past the end of the file; the header is not valid UTF-8 JSON or
 *   not an object; a tensor has an unknown dtype, a shape that is not an array of non-negative
 *   integers, data_offsets that are not two integers with begin ≤ end, a byte length different from
 *   prod(shape) × dtype size, or a span outside the data buffer; two tensors overlap; `__metadata__`
 *   is not a string → string map.
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  file: string,
): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string>; dataStart: number } {
  const { header, dataStart } = readHeaderObject(bytes, file);
  const dataLength = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') metadata = parseMetadata(raw, file);
    else entries.set(name, parseEntry(raw, name, dataLength, file));
  }
  checkNoOverlap(entries, file);
  return { entries, metadata, dataStart };
}

/** The 8-byte length and the JSON header object after it; dataStart is where the tensor bytes begin. */
function readHeaderObject(bytes: Uint8Array, file: string): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) throw new SafetensorsError(file, `file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(file, `header length ${headerLen} is absurd (over ${MAX_HEADER_BYTES} bytes): not a safetensors file?`);
  }
  const n = Number(headerLen);
  if (8 + n > bytes.length) {
    throw new SafetensorsError(file, `header length ${n} runs past the end of the file (${bytes.length} bytes): truncated file?`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new SafetensorsError(file, 'header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(file, `header is not valid JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new SafetensorsError(file, `header must be a JSON object, got ${Array.isArray(header) ? 'an array' : header === null ? 'null' : typeof header}`);
  }
  return { header: header as Record<string, unknown>, dataStart: 8 + n };
}

/** `__metadata__`: an object of strings. */
function parseMetadata(raw: unknown, file: string): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SafetensorsError(file, '__metadata__ must be an object mapping strings to strings');
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new SafetensorsError(file, `__metadata__["${k}"] must be a string, got ${JSON.stringify(v)}`);
    metadata[k] = v;
  }
  return metadata;
}

/** One tensor's {dtype, shape, data_offsets}: a known dtype, a span of exactly its bytes within the data. */
function parseEntry(raw: unknown, name: string, dataLength: number, file: string): SafetensorsEntry {
  const fail = (msg: string): never => {
    throw new SafetensorsError(file, msg, name);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('header entry must be an object {dtype, shape, data_offsets}');
  const info = raw as Record<string, unknown>;
  const dtype = info['dtype'];
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZE, dtype)) fail(`unknown dtype ${JSON.stringify(dtype)}`);
  const shape = info['shape'];
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) fail(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  const offsets = info['data_offsets'];
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
    fail(`data_offsets must be two non-negative integers [begin, end], got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`data_offsets [${begin}, ${end}] has begin > end`);
  let count: number;
  try {
    count = numel(shape as number[]);
  } catch (err) {
    return fail((err as Error).message);
  }
  const expected = count * DTYPE_SIZE[dtype as SafetensorsDType];
  if (end - begin !== expected) {
    fail(`data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${expected}`);
  }
  if (end > dataLength) fail(`data_offsets [${begin}, ${end}] run past the end of the data buffer (${dataLength} bytes): truncated file?`);
  return { dtype: dtype as SafetensorsDType, shape: [...(shape as number[])], begin, end };
}

/** Gaps between tensors are allowed; overlaps are not (empty tensors occupy no bytes). */
function checkNoOverlap(entries: ReadonlyMap<string, SafetensorsEntry>, file: string): void {
  const spans = [...entries].filter(([, e]) => e.end > e.begin).sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < spans.length; i++) {
    const [prevName, prev] = spans[i - 1]!;
    const [name, cur] = spans[i]!;
    if (cur.begin < prev.end) {
      throw new SafetensorsError(file, `bytes [${cur.begin}, ${cur.end}) overlap tensor "${prevName}" at [${prev.begin}, ${prev.end})`, name);
    }
  }
}

/** A copy of `length` elements of `bytes` as the given typed array, whatever the alignment of `bytes`. */
function copyAs<T>(bytes: Uint8Array, ctor: { new (buffer: ArrayBuffer, offset: number, length: number): T; BYTES_PER_ELEMENT: number }): T {
  // A fresh ArrayBuffer at offset 0: aligned, and independent of the file buffer. (Not bytes.slice():
  // on a Node Buffer that is a view, not a copy.)
  const own = new Uint8Array(bytes.length);
  own.set(bytes);
  return new ctor(own.buffer, 0, own.length / ctor.BYTES_PER_ELEMENT);
}

/** Decodes the bytes of one tensor to the array type of {@link SafetensorsTensor.data}. */
function decode(bytes: Uint8Array, dtype: SafetensorsDType): Float32Array | BigInt64Array | Int32Array {
  switch (dtype) {
    case 'F32':
      return copyAs(bytes, Float32Array);
    case 'F16':
      return f16ToF32Array(copyAs(bytes, Uint16Array));
    case 'BF16':
      return bf16ToF32Array(copyAs(bytes, Uint16Array));
    case 'F64':
      return Float32Array.from(copyAs(bytes, Float64Array));
    case 'I64':
      return copyAs(bytes, BigInt64Array);
    case 'I32':
      return copyAs(bytes, Int32Array);
    case 'I16':
      return Int32Array.from(copyAs(bytes, Int16Array));
    case 'U16':
      return Int32Array.from(copyAs(bytes, Uint16Array));
    case 'I8':
      return Int32Array.from(copyAs(bytes, Int8Array));
    case 'U8':
    case 'BOOL':
      return Int32Array.from(bytes);
    default:
      throw new Error(`unreachable dtype ${dtype}`);
  }
}

/** Options of {@link readSafetensors} and {@link parseSafetensors}. */
export interface SafetensorsReadOptions {
  /** Return NaN and ±Infinity values instead of refusing the file (default false). */
  allowNonFinite?: boolean;
}

/**
 * Decodes a safetensors file held in memory. See {@link readSafetensors}.
 * @param file the path, used in error messages only.
 */
export function parseSafetensors(bytes: Uint8Array, file: string, options: SafetensorsReadOptions = {}): SafetensorsFile {
  assertLittleEndian();
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes, file);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, e] of entries) {
    if (!READABLE.has(e.dtype)) throw new SafetensorsError(file, `dtype ${e.dtype} is not supported by this reader`, name);
    const data = decode(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype);
    if (data instanceof Float32Array && options.allowNonFinite !== true) {
      const bad = describeNonFinite(data, e.shape);
      if (bad !== undefined) {
        const widened = e.dtype === 'F64' ? ' (as f32: F64 values beyond ±3.4e38 overflow)' : '';
        throw new SafetensorsError(file, `${bad}${widened}; tensors must hold finite values (was the file saved from a run that diverged?)`, name);
      }
    }
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/**
 * Reads and validates a whole safetensors file (one `readFileSync`).
 * F32, F16, BF16 (and F64) tensors come back as Float32Array (F16/BF16 widened exactly, F64 rounded
 * to f32); I64 as BigInt64Array; I32, I16, I8, U16, U8 and BOOL widened to Int32Array. U32, U64 and
 * F8 dtypes are rejected.
 * @returns tensors in header order, and the `__metadata__` map ({} when absent).
 * @throws SafetensorsError (message `PATH: tensor "NAME": ...`) for every malformation listed at
 *   {@link parseSafetensorsHeader}, for unsupported dtypes, for a NaN or ±Infinity in a float tensor
 *   (naming the first bad element; unless options.allowNonFinite), and when the file cannot be
 *   read (naming the path and the system error).
 */
export function readSafetensors(path: string, options: SafetensorsReadOptions = {}): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (err) {
    throw new SafetensorsError(path, `cannot read the file: ${describeFsError(err)}`);
  }
  return parseSafetensors(bytes, path, options);
}

/** Output dtypes of {@link writeSafetensors}. */
export type SafetensorsWriteDType = 'F32' | 'F16' | 'BF16';

/** One tensor to write: row-major f32 data with prod(shape) elements. */
export interface SafetensorsWriteTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

/**
 * Builds the header bytes (JSON padded with spaces to a multiple of 8) for the given tensors, with
 * tensors laid out contiguously in the given order.
 * @throws Error on a duplicate or reserved name, a bad shape, a data length ≠ prod(shape), or bad metadata.
 */
function buildHeader(path: string, tensors: readonly SafetensorsWriteTensor[], dtype: SafetensorsWriteDType, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(path, `metadata["${k}"] must be a string, got ${JSON.stringify(v)}`);
    }
    header['__metadata__'] = { ...metadata };
  }
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new SafetensorsError(path, 'the name "__metadata__" is reserved', t.name);
    if (Object.hasOwn(header, t.name)) throw new SafetensorsError(path, 'duplicate tensor name', t.name);
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegInt)) throw new SafetensorsError(path, `shape must be non-negative integers, got ${JSON.stringify(t.shape)}`, t.name);
    if (!(t.data instanceof Float32Array)) throw new SafetensorsError(path, 'data must be a Float32Array', t.name);
    const count = numel(t.shape);
    if (t.data.length !== count) throw new SafetensorsError(path, `data has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${count}`, t.name);
    const size = count * DTYPE_SIZE[dtype];
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** Largest f32 magnitudes that round to a finite F16 / BF16 (round to nearest even); beyond them ±Infinity. */
const LARGEST_ROUNDING_TO_FINITE: Readonly<Record<'F16' | 'BF16', number>> = {
  F16: f32FromBits(0x477fefff), // 65519.996: f16 max is 65504; the midpoint 65520 to 2^16 rounds up (to even)
  BF16: f32FromBits(0x7f7f7fff), // 3.3962e38: the f32 just below the midpoint between bf16 max and 2^128
};

/**
 * Refuses a tensor that would not be stored as finite values: a NaN or ±Infinity, or (F16/BF16) a
 * value beyond the dtype's range, which rounding would turn into ±Infinity.
 * @throws SafetensorsError naming the file, tensor and first bad element.
 */
export function checkWritable(path: string, t: SafetensorsWriteTensor, dtype: SafetensorsWriteDType): void {
  const bad = describeNonFinite(t.data, t.shape);
  if (bad !== undefined) throw new SafetensorsError(path, `${bad}; refusing to write non-finite values (the values come from a run that diverged?)`, t.name);
  if (dtype === 'F32') return;
  const limit = LARGEST_ROUNDING_TO_FINITE[dtype];
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i]!;
    if (v > limit || v < -limit) {
      const where = t.shape.length > 1 ? ` (index ${multiIndex(t.shape, i)} of shape [${t.shape.join(', ')}])` : '';
      throw new SafetensorsError(path, `element ${i}${where} = ${v} is beyond the ${dtype} range and would be stored as ${v > 0 ? '+' : '-'}Infinity; save as ${dtype === 'F16' ? 'F32 or BF16' : 'F32'}`, t.name);
    }
  }
}

/**
 * Writes tensors to a safetensors file, atomically (`path.tmp` then rename), in the given order,
 * contiguous, with the header padded to a multiple of 8 bytes.
 * @param options.dtype stored dtype: 'F32' (exact), 'F16' or 'BF16' (rounded to nearest even).
 * @param options.metadata optional string → string map stored as `__metadata__`.
 * @param options.allowNonFinite write NaN and ±Infinity values (and F16/BF16 overflows) instead of
 *   refusing them (default false: {@link readSafetensors} refuses such files too).
 * @throws SafetensorsError on duplicate/reserved names, bad shapes, data length ≠ prod(shape),
 *   non-string metadata, and (unless allowNonFinite) a value that would not be stored as a finite
 *   number, naming the tensor and element; FileSystemError naming the file when the write fails
 *   (missing directory, ENOSPC, ...). On any error no file is left at `path` (an existing one is
 *   untouched).
 */
export function writeSafetensors(
  path: string,
  tensors: readonly SafetensorsWriteTensor[],
  options: { dtype?: SafetensorsWriteDType; metadata?: Record<string, string>; allowNonFinite?: boolean } = {},
): void {
  assertLittleEndian();
  const dtype = options.dtype ?? 'F32';
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new SafetensorsError(path, `cannot write dtype ${JSON.stringify(dtype)} (F32, F16 or BF16)`);
  const header = buildHeader(path, tensors, dtype, options.metadata);
  if (options.allowNonFinite !== true) for (const t of tensors) checkWritable(path, t, dtype);
  writeFileAtomicWith(path, (fd) => {
    writeAll(fd, header);
    for (const t of tensors) {
      if (dtype === 'F32') writeAll(fd, t.data);
      else if (dtype === 'F16') writeAll(fd, f32ToF16Array(t.data));
      else writeAll(fd, f32ToBf16Array(t.data));
    }
  });
}

/** Bytes of tensor data {@link writeSafetensors} stores for a tensor of this shape and dtype. */
export function tensorBytes(shape: readonly number[], dtype: SafetensorsWriteDType): number {
  return numel(shape) * DTYPE_SIZE[dtype];
}
