/**
 * WordPiece tokenization for BERT, through `@huggingface/tokenizers` (pure JS port of Hugging Face's
 * tokenizers: BertNormalizer, BertPreTokenizer, WordPiece model).
 *
 * The library tokenizes single texts; pair truncation, padding and batching (which it does not
 * provide) are implemented here following transformers' BertTokenizer(Fast) conventions.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { writeFileAtomic } from '../models/io/atomic.ts';
import { makeDirectory } from '../models/io/fs_errors.ts';
import { jsonErrorMessage, quoteInput, readUtf8File, showInput } from '../models/io/text_file.ts';

/** The BERT special tokens, in the order of bert-base-uncased's ids 0, 100, 101, 102, 103. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/** Encoded pair (or single text) of one example: arrays of length maxLength. */
export interface EncodedPair {
  /** `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, then [PAD] ids. */
  inputIds: Int32Array;
  /** 0 for [CLS], a and its [SEP]; 1 for b and its [SEP]; 0 for padding. */
  tokenTypeIds: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array;
}

/** A batch of encoded examples: flat row-major arrays [batchSize × maxLength]. */
export interface EncodedBatch extends EncodedPair {
  batchSize: number;
  maxLength: number;
}

/** The ids a masked-language-model pipeline needs (see data/mlm.ts). */
export interface SpecialIds {
  padId: number;
  unkId: number;
  clsId: number;
  sepId: number;
  maskId: number;
  /** Number of ids (0..vocabSize-1). */
  vocabSize: number;
  /** All special token ids (the five above). */
  specialIds: readonly number[];
}

/** Options of a tokenizer built from a vocabulary list. */
export interface VocabOptions {
  /** Lower-case and strip accents (uncased models). Default true. */
  lowercase?: boolean;
  /** Stored as tokenizer_config.json model_max_length. Default 512. */
  modelMaxLength?: number;
}

/**
 * The Hugging Face `tokenizer.json` object of a BERT WordPiece tokenizer with this vocabulary
 * (as transformers' BertTokenizerFast writes it): BertNormalizer (clean_text, handle_chinese_chars,
 * strip_accents and lowercase when `lowercase`), BertPreTokenizer, WordPiece (unk [UNK], prefix
 * "##", max_input_chars_per_word 100), TemplateProcessing `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B:1
 * [SEP]:1`, WordPiece decoder, and the five special tokens as added tokens.
 * @throws Error when a special token is missing from the vocabulary.
 */
export function bertTokenizerJson(vocab: readonly string[], options: VocabOptions = {}): Record<string, unknown> {
  const lowercase = options.lowercase ?? true;
  const ids = new Map<string, number>();
  vocab.forEach((t, i) => ids.set(t, i));
  for (const s of SPECIAL_TOKENS) if (!ids.has(s)) throw new Error(`vocabulary lacks the special token ${s}`);
  const id = (t: string) => ids.get(t)!;
  const special = (t: string, typeId: number) => ({ SpecialToken: { id: t, type_id: typeId } });
  const seq = (s: 'A' | 'B', typeId: number) => ({ Sequence: { id: s, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...SPECIAL_TOKENS]
      .sort((a, b) => id(a) - id(b))
      .map((t) => ({ id: id(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: lowercase, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]', 0), seq('A', 0), special('[SEP]', 0)],
      pair: [special('[CLS]', 0), seq('A', 0), special('[SEP]', 0), seq('B', 1), special('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}

/** transformers' tokenizer_config.json for a BERT tokenizer. */
function bertTokenizerConfig(lowercase: boolean, modelMaxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: lowercase,
    tokenize_chinese_chars: true,
    strip_accents: null,
    model_max_length: modelMaxLength,
    clean_up_tokenization_spaces: true,
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    mask_token: '[MASK]',
  };
}

/**
 * Parses a `vocab.txt` (one token per line, id = line number − 1).
 * @param file used in error messages.
 * @throws Error `FILE:LINE: ...` on an empty or duplicate token.
 */
export function parseVocab(text: string, file: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const seen = new Map<string, number>();
  return lines.map((raw, i) => {
    const token = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (token === '') throw new Error(`${file}:${i + 1}: empty token`);
    const prev = seen.get(token);
    if (prev !== undefined) throw new Error(`${file}:${i + 1}: duplicate token ${quoteInput(token)} (first on line ${prev + 1})`);
    seen.set(token, i);
    return token;
  });
}

/**
 * CJK ideographs outside the Basic Multilingual Plane, in the ranges of BERT's `_is_chinese_char`
 * (Extensions B–E and the Compatibility Ideographs Supplement). The library's BertNormalizer
 * checks UTF-16 code units and so never isolates these; {@link BertTokenizer.encode} puts spaces
 * around them first, as Hugging Face's Rust and Python tokenizers do.
 */
const ASTRAL_CJK = /[\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{2F800}-\u{2FA1F}]/gu;
const HAS_SURROGATE = /[\uD800-\uDBFF]/;

/**
 * Checks what the tokenizers library takes on trust: a WordPiece model whose vocab maps tokens to
 * distinct non-negative integer ids, and added tokens with such ids that agree with the vocab.
 * @throws Error naming the offending entry
 */
function validateWordPieceIds(json: Record<string, unknown>): void {
  const model = json['model'] as { type?: unknown; vocab?: unknown } | null | undefined;
  if (model === null || typeof model !== 'object' || model.type !== 'WordPiece' || model.vocab === null || typeof model.vocab !== 'object' || Array.isArray(model.vocab)) {
    throw new Error(`model must be a WordPiece model with a vocab object (got type ${showInput(model?.type)})`);
  }
  const vocab = model.vocab as Record<string, unknown>;
  const owner = new Map<number, string>();
  for (const [token, id] of Object.entries(vocab)) {
    if (!(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0)) throw new Error(`model.vocab[${quoteInput(token)}] must be a non-negative integer id (got ${showInput(id)})`);
    const prev = owner.get(id);
    if (prev !== undefined) throw new Error(`model.vocab: tokens ${quoteInput(prev)} and ${quoteInput(token)} share id ${id}`);
    owner.set(id, token);
  }
  const added = json['added_tokens'] ?? [];
  if (!Array.isArray(added)) throw new Error(`added_tokens must be an array (got ${showInput(added)})`);
  added.forEach((a: unknown, i) => {
    const t = a as { id?: unknown; content?: unknown } | null;
    if (t === null || typeof t !== 'object' || typeof t.content !== 'string' || !(typeof t.id === 'number' && Number.isSafeInteger(t.id) && t.id >= 0)) {
      throw new Error(`added_tokens[${i}] must be {id: a non-negative integer, content: a string} (got ${showInput(a)})`);
    }
    const inVocab = vocab[t.content];
    if (inVocab !== undefined && inVocab !== t.id) throw new Error(`added_tokens[${i}] gives ${quoteInput(t.content)} id ${t.id}, model.vocab gives ${inVocab}`);
    if (inVocab === undefined) owner.set(t.id, t.content);
  });
  // Ids index the embedding table: distinct ids are exactly 0..N-1 when the largest is N - 1.
  // (Checked here, before an id such as 2^31 makes a sparse array of that length.)
  let largest = -1;
  for (const id of owner.keys()) largest = Math.max(largest, id);
  if (largest >= owner.size) {
    let missing = 0;
    while (owner.has(missing)) missing++;
    throw new Error(`token ids are not contiguous: ${owner.size} tokens, but ids go up to ${largest} (no token has id ${missing})`);
  }
}

/** Name of a special token in tokenizer_config.json: a string or an AddedToken object {content}. */
function tokenName(config: Record<string, unknown>, key: string, fallback: string): string {
  const v = config[key];
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return fallback;
}

/**
 * A BERT WordPiece tokenizer. `encode` gives ids without special tokens; `encodePair`/`encodeBatch`
 * build model inputs `[CLS] a [SEP] (b [SEP])` with Hugging Face's longest-first truncation and
 * [PAD] padding.
 */
export class BertTokenizer implements SpecialIds {
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly maskId: number;
  readonly vocabSize: number;
  readonly specialIds: readonly number[];
  private readonly tokenizer: Tokenizer;
  private readonly vocab: string[];
  private readonly isolateAstralCjk: boolean;
  private fingerprintCache: string | undefined;

  /**
   * @param tokenizerJson a Hugging Face tokenizer.json object with a WordPiece model.
   * @param tokenizerConfig the tokenizer_config.json object ({} when absent).
   * @throws Error when the model is not WordPiece, a special token is missing, or the library rejects the JSON.
   */
  constructor(
    readonly tokenizerJson: Record<string, unknown>,
    readonly tokenizerConfig: Record<string, unknown> = {},
  ) {
    validateWordPieceIds(tokenizerJson);
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    const normalizer = tokenizerJson['normalizer'] as { type?: unknown; handle_chinese_chars?: unknown } | null | undefined;
    this.isolateAstralCjk = normalizer?.type === 'BertNormalizer' && normalizer.handle_chinese_chars !== false;
    const vocab = this.tokenizer.get_vocab(true);
    this.vocab = [];
    for (const [t, i] of vocab) this.vocab[i] = t;
    this.vocabSize = this.vocab.length;
    const need = (key: string, fallback: string): number => {
      const name = tokenName(tokenizerConfig, key, fallback);
      const id = this.tokenizer.token_to_id(name);
      if (id === undefined) throw new Error(`tokenizer: special token ${name} (${key}) is not in the vocabulary`);
      return id;
    };
    this.padId = need('pad_token', '[PAD]');
    this.unkId = need('unk_token', '[UNK]');
    this.clsId = need('cls_token', '[CLS]');
    this.sepId = need('sep_token', '[SEP]');
    this.maskId = need('mask_token', '[MASK]');
    this.specialIds = [this.padId, this.unkId, this.clsId, this.sepId, this.maskId];
    // The library builds its pipeline lazily and takes malformed parts (a normalizer flag of the
    // wrong type, a post-processor entry that is a number) on trust until the first encode: run
    // every stage once now, so a broken tokenizer.json fails at load, not mid-run.
    try {
      const ids = [...this.encode('Smoke TEST: a-b, c.d 42 café 中文 \u00e9\u0301 x\u200b y'), ...this.tokenizer.encode('a', { text_pair: 'b' }).ids];
      for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) throw new Error(`gives token id ${id} outside [0, ${this.vocabSize})`);
      this.decode(ids);
    } catch (err) {
      throw new Error(`the tokenizer does not work: ${(err as Error).message}`, { cause: err });
    }
  }

  /** An uncased (by default) BERT tokenizer for this vocabulary, built as {@link bertTokenizerJson}. */
  static fromVocab(vocab: readonly string[], options: VocabOptions = {}): BertTokenizer {
    const lowercase = options.lowercase ?? true;
    return new BertTokenizer(bertTokenizerJson(vocab, options), bertTokenizerConfig(lowercase, options.modelMaxLength ?? 512));
  }

  /**
   * A short hash (16 hex digits of SHA-256) of the tokenizer.json content: equal fingerprints mean
   * equal tokenization, so caches of token ids (data/corpus.ts) key on it.
   */
  fingerprint(): string {
    this.fingerprintCache ??= createHash('sha256').update(JSON.stringify(this.tokenizerJson)).digest('hex').slice(0, 16);
    return this.fingerprintCache;
  }

  /** Token ids of `text`, without special tokens. Normalisation (lower-casing, accents) is the tokenizer's. */
  encode(text: string): number[] {
    return this.tokenizer.encode(this.prepare(text), { add_special_tokens: false }).ids;
  }

  /** WordPiece tokens of `text`, without special tokens (for inspection). */
  tokenize(text: string): string[] {
    return this.tokenizer.tokenize(this.prepare(text));
  }

  /** Works around the library's BMP-only CJK isolation (see {@link ASTRAL_CJK}). */
  private prepare(text: string): string {
    return this.isolateAstralCjk && HAS_SURROGATE.test(text) ? text.replace(ASTRAL_CJK, ' $& ') : text;
  }

  /** Text of ids (WordPiece pieces joined, "##" continuations glued). */
  decode(ids: ArrayLike<number>, skipSpecialTokens = true): string {
    const list = Array.from(ids);
    return list.length === 0 ? '' : this.tokenizer.decode(list, { skip_special_tokens: skipSpecialTokens });
  }

  /** The token of an id. @throws RangeError for an id outside [0, vocabSize). */
  idToToken(id: number): string {
    const t = this.vocab[id];
    if (t === undefined) throw new RangeError(`token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    return t;
  }

  /** The id of a token, or undefined when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /**
   * Truncates two id lists in place to at most `budget` ids together, longest first, exactly as
   * Hugging Face tokenizers' `TruncationStrategy::LongestFirst` (the fast BertTokenizer that
   * transformers uses by default): the shorter list (the first on ties) keeps
   * min(its length, ⌊budget/2⌋) ids and the other gets the rest. This is "repeatedly drop the last
   * id of the longer list" with ties resolved in favour of the second text.
   */
  static truncateLongestFirst(a: number[], b: number[], budget: number): void {
    if (a.length + b.length <= budget) return;
    const half = Math.floor(budget / 2);
    if (a.length > b.length) {
      b.length = Math.min(b.length, half);
      a.length = budget - b.length;
    } else {
      a.length = Math.min(a.length, half);
      b.length = budget - a.length;
    }
  }

  /**
   * Encodes one example into `out` at row `row` (arrays of at least (row+1)·maxLength).
   * @throws Error when maxLength is too small to hold the special tokens.
   */
  private encodeInto(a: string, b: string | undefined, maxLength: number, out: EncodedPair, row: number): void {
    const idsA = this.encode(a);
    const idsB = b === undefined ? [] : this.encode(b);
    const specials = b === undefined ? 2 : 3;
    if (!Number.isInteger(maxLength) || maxLength < specials) {
      throw new Error(`maxLength ${maxLength} cannot hold the ${specials} special tokens of ${b === undefined ? 'a single text' : 'a pair'}`);
    }
    BertTokenizer.truncateLongestFirst(idsA, idsB, maxLength - specials);
    const base = row * maxLength;
    let k = base;
    const put = (id: number, type: number) => {
      out.inputIds[k] = id;
      out.tokenTypeIds[k] = type;
      out.attentionMask[k] = 1;
      k++;
    };
    put(this.clsId, 0);
    for (const id of idsA) put(id, 0);
    put(this.sepId, 0);
    if (b !== undefined) {
      for (const id of idsB) put(id, 1);
      put(this.sepId, 1);
    }
    for (; k < base + maxLength; k++) {
      out.inputIds[k] = this.padId;
      out.tokenTypeIds[k] = 0;
      out.attentionMask[k] = 0;
    }
  }

  /**
   * Model inputs for text `a` (and optional `b`): `[CLS] a [SEP] b [SEP]`, token types 0/1,
   * truncated longest-first to `maxLength`, padded with [PAD] (attention mask 0) to `maxLength`.
   * @throws Error when maxLength < 2 (single) or < 3 (pair).
   */
  encodePair(a: string, b: string | undefined, maxLength: number): EncodedPair {
    const out = { inputIds: new Int32Array(maxLength), tokenTypeIds: new Int32Array(maxLength), attentionMask: new Int32Array(maxLength) };
    this.encodeInto(a, b, maxLength, out, 0);
    return out;
  }

  /**
   * {@link encodePair} for each example, into flat row-major arrays [examples.length × maxLength].
   * @throws Error when maxLength is too small for the special tokens.
   */
  encodeBatch(examples: ReadonlyArray<{ textA: string; textB?: string | undefined }>, maxLength: number): EncodedBatch {
    const n = examples.length * maxLength;
    const out: EncodedBatch = { inputIds: new Int32Array(n), tokenTypeIds: new Int32Array(n), attentionMask: new Int32Array(n), batchSize: examples.length, maxLength };
    examples.forEach((ex, row) => this.encodeInto(ex.textA, ex.textB, maxLength, out, row));
    return out;
  }

  /**
   * Writes `vocab.txt`, `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json` into
   * `dir` (created if needed), each atomically, so that transformers' AutoTokenizer and
   * {@link loadTokenizer} load it.
   */
  save(dir: string): void {
    makeDirectory(dir);
    writeFileAtomic(path.join(dir, 'vocab.txt'), `${this.vocab.join('\n')}\n`);
    writeFileAtomic(path.join(dir, 'tokenizer.json'), JSON.stringify(this.tokenizerJson));
    writeFileAtomic(path.join(dir, 'tokenizer_config.json'), `${JSON.stringify(this.tokenizerConfig, null, 2)}\n`);
    const map = { pad_token: this.idToToken(this.padId), unk_token: this.idToToken(this.unkId), cls_token: this.idToToken(this.clsId), sep_token: this.idToToken(this.sepId), mask_token: this.idToToken(this.maskId) };
    writeFileAtomic(path.join(dir, 'special_tokens_map.json'), `${JSON.stringify(map, null, 2)}\n`);
  }
}

/**
 * Loads the tokenizer of a model or vocabulary directory: `tokenizer.json` (+ `tokenizer_config.json`
 * when present) if there is one, else `vocab.txt` with an uncased BERT tokenizer built in code (cased
 * when tokenizer_config.json says `"do_lower_case": false`).
 * @throws Error when the directory holds neither file, or a file is not valid JSON / a valid vocabulary.
 */
export function loadTokenizer(dir: string): BertTokenizer {
  const readJson = (file: string): Record<string, unknown> => {
    const text = readUtf8File(file);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file}: not valid JSON (${jsonErrorMessage(err)})`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}: not a JSON object`);
    return v as Record<string, unknown>;
  };
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configFile) ? readJson(configFile) : undefined;
  const jsonFile = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(jsonFile)) {
    const json = readJson(jsonFile);
    try {
      return new BertTokenizer(json, config ?? {});
    } catch (err) {
      throw new Error(`${jsonFile}: ${(err as Error).message}`);
    }
  }
  const vocabFile = path.join(dir, 'vocab.txt');
  if (!fs.existsSync(vocabFile)) throw new Error(`${dir}: no tokenizer.json or vocab.txt`);
  const lowercase = config?.['do_lower_case'] !== false;
  const maxLen = config?.['model_max_length'];
  const vocab = parseVocab(readUtf8File(vocabFile), vocabFile);
  try {
    return BertTokenizer.fromVocab(vocab, { lowercase, modelMaxLength: typeof maxLen === 'number' && maxLen > 0 && maxLen < 1e9 ? maxLen : 512 });
  } catch (err) {
    throw new Error(`${vocabFile}: ${(err as Error).message}`, { cause: err });
  }
}
