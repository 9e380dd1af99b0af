/**
 * Pretraining corpus: text files → cached token-id shards → fixed-length packed sequences.
 *
 * Corpus format (that of BERT's create_pretraining_data.py and of `/work/shared/data/corpus`):
 * UTF-8 `.txt` or gzip `.txt.gz` files, one paragraph per line, documents separated by a blank line.
 * Lower-casing and accent stripping are left to the tokenizer's normalizer.
 *
 * Token cache: one `NAME-HASH.u16` file per source (little-endian u16 token ids, each document
 * followed by {@link DOC_SEPARATOR}) plus a `NAME-HASH.u16.json` manifest with the source's size and
 * mtime, the tokenizer fingerprint and the counts; a cache entry is reused only when all of these
 * still match.
 *
 * Packing: see {@link SequencePacker}.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as zlib from 'node:zlib';
import { HostRandom } from '../engine/random.ts';
import { writeAll, writeFileAtomic, writeFileAtomicWithAsync } from '../models/io/atomic.ts';
import { describeFsError, makeDirectory, withFileErrors } from '../models/io/fs_errors.ts';

/** Token id marking the end of a document in a token shard (never a vocabulary id). */
export const DOC_SEPARATOR = 0xffff;

const CORPUS_FILE = /\.txt(\.gz)?$/;
const CACHE_VERSION = 1;

/**
 * The corpus files of a directory, a file, or a list of them, sorted by path within each directory.
 * A directory contributes its `*.txt` and `*.txt.gz` files (so `train-*.txt.gz`), except names
 * starting with `valid` unless `includeValid` (held-out data is never trained on by accident);
 * files named explicitly are always taken.
 * @throws Error when a path does not exist or nothing is found.
 */
export function listCorpusFiles(input: string | readonly string[], options: { includeValid?: boolean } = {}): string[] {
  const out: string[] = [];
  for (const p of typeof input === 'string' ? [input] : input) {
    if (!fs.existsSync(p)) throw new Error(`${p}: corpus path does not exist`);
    if (fs.statSync(p).isDirectory()) {
      const names = fs.readdirSync(p).filter((f) => CORPUS_FILE.test(f) && (options.includeValid === true || !f.startsWith('valid'))).sort();
      out.push(...names.map((f) => path.join(p, f)));
    } else out.push(p);
  }
  if (out.length === 0) throw new Error(`no corpus files (*.txt, *.txt.gz) in ${typeof input === 'string' ? input : input.join(', ')}`);
  return out;
}

/**
 * Streams the documents of one corpus file (gzip decompressed on the fly when the name ends in
 * `.gz`): each document is the list of its non-blank lines (paragraphs). Blank (whitespace-only)
 * lines separate documents; several in a row do not make empty documents. `\r\n` is accepted.
 */
export async function* readDocuments(file: string): AsyncGenerator<string[]> {
  const raw = fs.createReadStream(file);
  const input = file.endsWith('.gz') ? raw.pipe(zlib.createGunzip()) : raw;
  raw.on('error', (err) => input.destroy(err));
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let doc: string[] = [];
  try {
    for await (const line of lines) {
      if (line.trim() === '') {
        if (doc.length > 0) yield doc;
        doc = [];
      } else doc.push(line);
    }
    if (doc.length > 0) yield doc;
  } catch (err) {
    throw new Error(`${file}: cannot read the corpus file: ${describeFsError(err)}`, { cause: err });
  } finally {
    lines.close();
    raw.destroy();
  }
}

/** What {@link pretokenize} needs of a tokenizer (a BertTokenizer qualifies). */
export interface CorpusTokenizer {
  /** Ids of a paragraph, without special tokens. */
  encode(text: string): number[];
  vocabSize: number;
  /** Changes whenever tokenization would change (part of the cache key). */
  fingerprint(): string;
}

/** A tokenized corpus file. */
export interface TokenShard {
  /** The source text file (absolute). */
  source: string;
  /** The `.u16` cache file. */
  path: string;
  /** u16 entries in the cache file: tokens plus one DOC_SEPARATOR per document. */
  numTokens: number;
  numDocuments: number;
}

interface Manifest {
  version: number;
  source: string;
  size: number;
  mtimeMs: number;
  tokenizer: string;
  numTokens: number;
  numDocuments: number;
}

/** Cache file of a source: its base name plus a hash of its absolute path (sources may share names). */
function cachePath(cacheDir: string, source: string): string {
  const base = path.basename(source).replace(CORPUS_FILE, '');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 8);
  return path.join(cacheDir, `${base}-${hash}.u16`);
}

/** The cached shard of `source` when its manifest still matches the source and tokenizer. */
function cachedShard(source: string, file: string, fingerprint: string): TokenShard | undefined {
  const manifestFile = `${file}.json`;
  if (!fs.existsSync(manifestFile) || !fs.existsSync(file)) return undefined;
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
  const st = fs.statSync(source);
  const ok =
    m.version === CACHE_VERSION && m.source === source && m.size === st.size && m.mtimeMs === st.mtimeMs &&
    m.tokenizer === fingerprint && fs.statSync(file).size === 2 * m.numTokens;
  return ok ? { source, path: file, numTokens: m.numTokens, numDocuments: m.numDocuments } : undefined;
}

/** Progress of {@link pretokenize}, reported once per source file. */
export interface PretokenizeProgress {
  source: string;
  cached: boolean;
  numTokens: number;
  numDocuments: number;
  seconds: number;
}

/**
 * Tokenizes corpus files into the cache directory (created if needed), one `.u16` shard per file,
 * reusing shards whose manifest matches the source's size and mtime and the tokenizer fingerprint.
 * Each shard is written to `.tmp` and renamed, then its manifest is written, so an interrupted run
 * never leaves a shard that looks valid. Roughly 3 MB of text per second per file, on one core.
 * @returns the shards, in the order of `files`.
 * @throws Error when the vocabulary has more than 65535 ids (they must fit in u16 below
 *   DOC_SEPARATOR), a source cannot be read or decompressed, or a token id is out of range.
 */
export async function pretokenize(
  files: readonly string[],
  tokenizer: CorpusTokenizer,
  cacheDir: string,
  options: { onProgress?: (p: PretokenizeProgress) => void } = {},
): Promise<TokenShard[]> {
  if (tokenizer.vocabSize > DOC_SEPARATOR) throw new Error(`vocabulary of ${tokenizer.vocabSize} ids does not fit the u16 token cache (at most ${DOC_SEPARATOR})`);
  makeDirectory(cacheDir);
  const fingerprint = tokenizer.fingerprint();
  const shards: TokenShard[] = [];
  for (const f of files) {
    const source = path.resolve(f);
    const file = cachePath(cacheDir, source);
    const t0 = performance.now();
    const cached = cachedShard(source, file, fingerprint);
    if (cached !== undefined) {
      shards.push(cached);
      options.onProgress?.({ source, cached: true, numTokens: cached.numTokens, numDocuments: cached.numDocuments, seconds: (performance.now() - t0) / 1000 });
      continue;
    }
    const st = fs.statSync(source);
    let numTokens = 0;
    let numDocuments = 0;
    await writeFileAtomicWithAsync(file, async (fd) => {
      const buffer = new Uint16Array(1 << 20);
      let fill = 0;
      const push = (id: number) => {
        buffer[fill++] = id;
        if (fill === buffer.length) {
          writeAll(fd, buffer);
          fill = 0;
        }
      };
      for await (const doc of readDocuments(source)) {
        for (const paragraph of doc) {
          for (const id of tokenizer.encode(paragraph)) {
            if (!(id >= 0 && id < DOC_SEPARATOR)) throw new Error(`${source}: token id ${id} does not fit the u16 cache`);
            push(id);
          }
        }
        push(DOC_SEPARATOR);
        numDocuments++;
      }
      writeAll(fd, buffer.subarray(0, fill));
      numTokens = fs.fstatSync(fd).size / 2;
    });
    const manifest: Manifest = { version: CACHE_VERSION, source, size: st.size, mtimeMs: st.mtimeMs, tokenizer: fingerprint, numTokens, numDocuments };
    writeFileAtomic(`${file}.json`, `${JSON.stringify(manifest, null, 2)}\n`);
    shards.push({ source, path: file, numTokens, numDocuments });
    options.onProgress?.({ source, cached: false, numTokens, numDocuments, seconds: (performance.now() - t0) / 1000 });
  }
  return shards;
}

/** The ids of a `.u16` token shard (documents separated by DOC_SEPARATOR). @throws Error on an odd file size. */
export function readTokenShard(file: string): Uint16Array {
  const bytes = withFileErrors(file, 'read the token cache', () => fs.readFileSync(file));
  if (bytes.length % 2 !== 0) throw new Error(`${file}: ${bytes.length} bytes is not a whole number of u16 tokens`);
  const out = new Uint16Array(bytes.length / 2);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** Options of {@link SequencePacker}. */
export interface PackerOptions {
  /** Length of every sequence, [CLS] and final [SEP] included (≥ 3). */
  maxSeqLength: number;
  /** Seed of the shuffles, an integer in [0, 2^32). */
  seed: number;
  /** Shuffle the chunk order every epoch (default true). False: corpus order, e.g. for validation. */
  shuffle?: boolean;
  clsId: number;
  sepId: number;
}

/** The serialisable position of a {@link SequencePacker}. */
export interface PackerState {
  version: 1;
  seed: number;
  maxSeqLength: number;
  shuffle: boolean;
  /** Identifies the shard list (names and token counts); restore refuses a different corpus. */
  corpus: string;
  epoch: number;
  /** Sequences already taken in this epoch. */
  index: number;
}

/**
 * Packs a token stream into sequences of exactly `maxSeqLength` ids: `[CLS] t1 … tL [SEP]` with
 * L = maxSeqLength − 2 consecutive ids of one shard. Documents are packed contiguously; a document
 * boundary becomes one extra [SEP] inside the sequence (RoBERTa's FULL-SENTENCES packing with BERT's
 * separator), so no padding is ever needed. Each shard is cut into ⌊n/L⌋ chunks at fixed offsets
 * (the remainder < L at its end is dropped); an epoch visits every chunk of every shard once, in an
 * order drawn with Fisher–Yates over all chunks of all shards (HostRandom keyed by seed + epoch·2^32),
 * or in corpus order when shuffle is false. After the last chunk the next epoch starts with a new
 * order. The position (epoch, index) is all the state: {@link state} / {@link restore} resume a run
 * exactly. All shards are held in memory (2 bytes per token).
 */
export class SequencePacker {
  /** Chunks (= sequences) per epoch. */
  readonly sequencesPerEpoch: number;
  private readonly tokens: Uint16Array[];
  /** firstChunk[s] = global index of shard s's first chunk; firstChunk[S] = total. */
  private readonly firstChunk: number[];
  private readonly chunkLength: number;
  private readonly shuffle: boolean;
  private readonly corpusId: string;
  private epochValue = 0;
  private indexValue = 0;
  private order: Uint32Array | undefined;

  /**
   * @param shards token shards (from {@link pretokenize}) or token arrays, in corpus order.
   * @throws Error on bad options or when no shard holds even one chunk.
   */
  constructor(
    shards: ReadonlyArray<TokenShard | Uint16Array>,
    private readonly options: PackerOptions,
  ) {
    const { maxSeqLength, seed } = options;
    if (!Number.isInteger(maxSeqLength) || maxSeqLength < 3) throw new Error(`SequencePacker: maxSeqLength must be an integer ≥ 3 (got ${maxSeqLength})`);
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`SequencePacker: seed must be an integer in [0, 2^32) (got ${seed})`);
    this.shuffle = options.shuffle ?? true;
    this.chunkLength = maxSeqLength - 2;
    this.tokens = shards.map((s) => (s instanceof Uint16Array ? s : readTokenShard(s.path)));
    this.firstChunk = [0];
    for (const t of this.tokens) this.firstChunk.push(this.firstChunk.at(-1)! + Math.floor(t.length / this.chunkLength));
    this.sequencesPerEpoch = this.firstChunk.at(-1)!;
    if (this.sequencesPerEpoch === 0) throw new Error(`SequencePacker: no shard holds ${this.chunkLength} tokens (maxSeqLength ${maxSeqLength})`);
    const names = shards.map((s, i) => (s instanceof Uint16Array ? `#${i}` : path.basename(s.source)));
    this.corpusId = createHash('sha256').update(JSON.stringify(names.map((n, i) => [n, this.tokens[i]!.length]))).digest('hex').slice(0, 16);
  }

  /** Current epoch (0-based). */
  get epoch(): number {
    return this.epochValue;
  }

  /** Sequences already taken in the current epoch. */
  get index(): number {
    return this.indexValue;
  }

  /** Chunk order of the current epoch (identity when not shuffling). */
  private epochOrder(): Uint32Array {
    if (this.order === undefined) {
      const n = this.sequencesPerEpoch;
      const order = new Uint32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
      if (this.shuffle) {
        const rng = new HostRandom(this.options.seed + this.epochValue * 2 ** 32);
        for (let i = n - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          const t = order[i]!;
          order[i] = order[j]!;
          order[j] = t;
        }
      }
      this.order = order;
    }
    return this.order;
  }

  /** Writes chunk `chunk` as a sequence into `out` at `offset`. */
  private writeChunk(chunk: number, out: Int32Array, offset: number): void {
    // Shard of the chunk: binary search in firstChunk.
    let lo = 0;
    let hi = this.tokens.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.firstChunk[mid]! <= chunk) lo = mid;
      else hi = mid - 1;
    }
    const start = (chunk - this.firstChunk[lo]!) * this.chunkLength;
    const src = this.tokens[lo]!;
    const { clsId, sepId } = this.options;
    out[offset] = clsId;
    for (let i = 0; i < this.chunkLength; i++) {
      const t = src[start + i]!;
      out[offset + 1 + i] = t === DOC_SEPARATOR ? sepId : t;
    }
    out[offset + this.chunkLength + 1] = sepId;
  }

  /** The next sequence, length maxSeqLength (a new epoch starts after the last chunk). */
  next(): Int32Array {
    return this.nextBatch(1);
  }

  /** The next `batchSize` sequences, flat row-major [batchSize × maxSeqLength]. */
  nextBatch(batchSize: number): Int32Array {
    const L = this.options.maxSeqLength;
    const out = new Int32Array(batchSize * L);
    for (let b = 0; b < batchSize; b++) {
      if (this.indexValue === this.sequencesPerEpoch) {
        this.epochValue++;
        this.indexValue = 0;
        this.order = undefined;
      }
      this.writeChunk(this.epochOrder()[this.indexValue++]!, out, b * L);
    }
    return out;
  }

  /** The position, as a JSON-serialisable object. */
  state(): PackerState {
    return { version: 1, seed: this.options.seed, maxSeqLength: this.options.maxSeqLength, shuffle: this.shuffle, corpus: this.corpusId, epoch: this.epochValue, index: this.indexValue };
  }

  /**
   * Continues from a saved position: the following sequences are those the saved packer would have
   * produced next.
   * @throws Error when the state is malformed or was saved with another seed, length, shuffle
   *   setting or corpus.
   */
  restore(state: PackerState): void {
    const mismatch = (what: string, got: unknown, want: unknown) => new Error(`SequencePacker.restore: state has ${what} ${JSON.stringify(got)}, this packer ${JSON.stringify(want)}`);
    if (state === null || typeof state !== 'object' || state.version !== 1) throw new Error('SequencePacker.restore: not a packer state (version 1)');
    if (state.seed !== this.options.seed) throw mismatch('seed', state.seed, this.options.seed);
    if (state.maxSeqLength !== this.options.maxSeqLength) throw mismatch('maxSeqLength', state.maxSeqLength, this.options.maxSeqLength);
    if (state.shuffle !== this.shuffle) throw mismatch('shuffle', state.shuffle, this.shuffle);
    if (state.corpus !== this.corpusId) throw mismatch('corpus', state.corpus, this.corpusId);
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.index) || state.index < 0 || state.index > this.sequencesPerEpoch) {
      throw new Error(`SequencePacker.restore: bad position epoch ${state.epoch}, index ${state.index} (${this.sequencesPerEpoch} sequences per epoch)`);
    }
    this.epochValue = state.epoch;
    this.indexValue = state.index;
    this.order = undefined;
  }
}
