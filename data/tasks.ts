/**
 * Fine-tuning task datasets, read from a data root laid out like `/work/shared/data`
 * (see data/paths.ts `defaultDataDir()`; callers pass `--data-dir`).
 *
 * Built-in tasks:
 * - `mrpc`: GLUE MRPC, `glue/MRPC/{train,dev,test}.tsv`. UTF-8 (BOM on the header), split on TAB
 *   only (quotes are never parsed: sentences hold unbalanced `"`). Columns `Quality  #1 ID  #2 ID
 *   #1 String  #2 String` (test: `index` instead of `Quality`, unlabeled). Label = Quality (0/1).
 *   2 labels; metrics accuracy, f1 (class 1).
 * - `stsb`: GLUE STS-B, `glue/STS-B/*.tsv`, header `index genre filename year old_index source1
 *   source2 sentence1 sentence2 score`; train/dev have 10 columns, test 9 (no score, unlabeled).
 *   Regression on the score in [0, 5]; metrics pearson, spearman.
 * - `sciie`: SciERC relation classification, `scibert/sciie/*.jsonl`, lines `{text, label, metadata}`
 *   (entity markers `[[ ]]`, `<< >>` kept in the text, as SciBERT does). 7 labels, fixed as the sorted
 *   labels of train: COMPARE, CONJUNCTION, EVALUATE-FOR, FEATURE-OF, HYPONYM-OF, PART-OF, USED-FOR.
 *   Metrics accuracy, macro_f1 (the transfer-pruning paper reports "F1" for SciERC; SciBERT's
 *   evaluation of this dataset is macro-F1, so macro-F1 it is).
 * - `citation_intent`: ACL-ARC, `scibert/citation_intent/*.jsonl`, same format; 6 labels (sorted):
 *   Background, CompareOrContrast, Extends, Future, Motivation, Uses. Metrics accuracy, macro_f1.
 *
 * Generic tasks, `[regression:](tsv|jsonl):DIR` (DIR absolute or relative to the working directory;
 * the data root is not used): DIR holds `train`, `dev` and optionally `test` files with extension
 * `.tsv` or `.jsonl`.
 * - TSV: UTF-8 (an optional BOM), TAB-separated, no quoting, a header row naming the columns
 *   `sentence1` (required), `sentence2` (optional: pair task), `label` (required in train/dev,
 *   optional in test); other columns are ignored; every row has exactly the header's column count.
 * - JSONL: one object per line `{"text": str, "text_b"?: str, "label": str | number}` (label optional
 *   in test); blank lines are skipped.
 * - Classification (no `regression:` prefix): labels are strings or integers. If every train label
 *   is a non-negative integer (number or digit string), class = that integer and numLabels = max + 1;
 *   otherwise classes are the distinct train labels sorted by code unit. Labels of dev/test must
 *   be train classes. Metrics accuracy and macro_f1, plus f1 (class 1) when there are exactly 2
 *   integer classes. getTask reads the train file to find the classes.
 * - Regression (`regression:` prefix): labels are finite numbers (or numeric strings); numLabels 1;
 *   metrics pearson, spearman.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jsonErrorMessage, quoteInput, readUtf8File, showInput } from '../models/io/text_file.ts';

/** A dataset split; GLUE's `dev` is the validation set used for reporting. */
export type Split = 'train' | 'dev' | 'test';

/** One example. `label` is the class index, the regression target, or NaN when the split is unlabeled. */
export interface Example {
  textA: string;
  textB?: string;
  label: number;
}

/** Where a task's files are and how they are parsed. */
export type TaskSource =
  | { kind: 'mrpc' }
  | { kind: 'stsb' }
  | { kind: 'scibert'; subdir: 'sciie' | 'citation_intent' }
  | { kind: 'tsv' | 'jsonl'; dir: string };

/** A task: its head (numLabels, regression or not), metrics, and class names. */
export interface Task {
  /** The built-in name, or the spec string of a generic task. */
  name: string;
  /** Number of classes; 1 for regression. */
  numLabels: number;
  isRegression: boolean;
  /** Metric names for data/metrics.ts computeMetrics; the first is the task's main metric. */
  metricNames: string[];
  /** Class names by index (classification only). */
  labelNames?: string[];
  source: TaskSource;
}

/** A loaded split. */
export interface LoadedSplit {
  examples: Example[];
  /** Malformed rows skipped (only with skipMalformed). */
  skipped: number;
  /** False when the split has no labels (GLUE test sets): every label is NaN. */
  labeled: boolean;
  file: string;
}

/** A malformed row or header: the message is `FILE:LINE: what is wrong`. */
export class DataFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    what: string,
  ) {
    super(`${file}:${line}: ${what}`);
    this.name = 'DataFormatError';
  }
}

/** SciERC relation classes: the sorted distinct labels of scibert/sciie/train.jsonl (class index = position). */
export const SCIIE_LABELS = ['COMPARE', 'CONJUNCTION', 'EVALUATE-FOR', 'FEATURE-OF', 'HYPONYM-OF', 'PART-OF', 'USED-FOR'];
/** ACL-ARC citation intents: the sorted distinct labels of scibert/citation_intent/train.jsonl. */
export const CITATION_INTENT_LABELS = ['Background', 'CompareOrContrast', 'Extends', 'Future', 'Motivation', 'Uses'];

/** Names and generic forms accepted by {@link getTask}. */
export const KNOWN_TASKS = ['mrpc', 'stsb', 'sciie', 'citation_intent', 'tsv:DIR', 'jsonl:DIR', 'regression:tsv:DIR', 'regression:jsonl:DIR'];

const isIndex = (s: string) => /^(0|[1-9]\d*)$/.test(s);

/**
 * Lines of a UTF-8 text file (BOM stripped, `\r\n` accepted); a final empty line is dropped.
 * @throws FileSystemError when it cannot be read; TextEncodingError when it is UTF-16, binary or not UTF-8
 */
function readLines(file: string): string[] {
  const text = readUtf8File(file);
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** The distinct labels of a generic classification task's train file, as strings. */
function genericTrainLabels(kind: 'tsv' | 'jsonl', dir: string, spec: string): string[] {
  const file = path.join(dir, `train.${kind}`);
  if (!fs.existsSync(file)) throw new Error(`task ${spec}: ${file} not found (a generic task needs train.${kind} and dev.${kind} in ${dir})`);
  const labels = new Set<string>();
  // Malformed rows are left out here; loadSplit reports (or skips) them.
  const rows = kind === 'tsv' ? parseGenericTsv(file, 'train', true) : parseGenericJsonl(file, 'train', true);
  for (const r of rows.rows) labels.add(r.label!);
  if (labels.size === 0) throw new Error(`${file}: no examples`);
  return [...labels];
}

/**
 * Resolves a task spec (see the module comment): a built-in name or `[regression:](tsv|jsonl):DIR`.
 * Generic classification specs read DIR/train.* to find the classes.
 * @throws Error for an unknown name (listing the known ones), a generic DIR without a train file,
 *   or malformed train labels.
 */
export function getTask(spec: string): Task {
  switch (spec) {
    case 'mrpc':
      return { name: 'mrpc', numLabels: 2, isRegression: false, metricNames: ['accuracy', 'f1'], labelNames: ['0', '1'], source: { kind: 'mrpc' } };
    case 'stsb':
      return { name: 'stsb', numLabels: 1, isRegression: true, metricNames: ['pearson', 'spearman'], source: { kind: 'stsb' } };
    case 'sciie':
      return { name: 'sciie', numLabels: 7, isRegression: false, metricNames: ['accuracy', 'macro_f1'], labelNames: [...SCIIE_LABELS], source: { kind: 'scibert', subdir: 'sciie' } };
    case 'citation_intent':
      return { name: 'citation_intent', numLabels: 6, isRegression: false, metricNames: ['accuracy', 'macro_f1'], labelNames: [...CITATION_INTENT_LABELS], source: { kind: 'scibert', subdir: 'citation_intent' } };
  }
  const m = /^(regression:)?(tsv|jsonl):(.+)$/.exec(spec);
  if (m === null) throw new Error(`unknown task "${spec}" (known: ${KNOWN_TASKS.join(', ')})`);
  const kind = m[2] as 'tsv' | 'jsonl';
  const dir = path.resolve(m[3]!);
  if (m[1] !== undefined) {
    return { name: spec, numLabels: 1, isRegression: true, metricNames: ['pearson', 'spearman'], source: { kind, dir } };
  }
  const labels = genericTrainLabels(kind, dir, spec);
  let labelNames: string[];
  if (labels.every(isIndex)) {
    const max = Math.max(...labels.map(Number));
    labelNames = Array.from({ length: max + 1 }, (_, i) => String(i));
  } else labelNames = [...labels].sort();
  if (labelNames.length < 2) throw new Error(`task ${spec}: ${path.join(dir, `train.${kind}`)} has a single class ${quoteInput(labels[0]!)}; classification needs at least 2`);
  const integer = labels.every(isIndex);
  const metricNames = integer && labelNames.length === 2 ? ['accuracy', 'f1', 'macro_f1'] : ['accuracy', 'macro_f1'];
  return { name: spec, numLabels: labelNames.length, isRegression: false, metricNames, labelNames, source: { kind, dir } };
}

/** A row before label conversion. */
interface RawRow {
  line: number;
  textA: string;
  textB?: string;
  label?: string;
}

/** Row-level error collector: throws, or counts when skipping. */
class Rows {
  rows: RawRow[] = [];
  skipped = 0;
  constructor(private readonly skipMalformed: boolean) {}
  /** Runs `parse` for one line; a DataFormatError is rethrown or counted. */
  add(parse: () => RawRow | undefined): void {
    try {
      const r = parse();
      if (r !== undefined) this.rows.push(r);
    } catch (err) {
      if (this.skipMalformed && err instanceof DataFormatError) this.skipped++;
      else throw err;
    }
  }
}

/**
 * Parses a TSV file with a header. `required` columns must be present (header error otherwise);
 * `build(cells, line)` makes a row from the cells of one line, which has exactly the header's count.
 */
function parseTsv(file: string, skipMalformed: boolean, required: string[], build: (get: (col: string) => string | undefined, line: number) => RawRow): Rows {
  const lines = readLines(file);
  if (lines.length === 0) throw new DataFormatError(file, 1, 'empty file (a header row is required)');
  const header = lines[0]!.split('\t');
  for (const col of required) {
    if (!header.includes(col)) throw new DataFormatError(file, 1, `header lacks column "${col}" (has ${showInput(header)}; TAB-separated)`);
  }
  const index = new Map(header.map((h, i) => [h, i]));
  const rows = new Rows(skipMalformed);
  for (let i = 1; i < lines.length; i++) {
    const line = i + 1;
    rows.add(() => {
      const cells = lines[i]!.split('\t');
      if (cells.length !== header.length) throw new DataFormatError(file, line, `${cells.length} columns, expected ${header.length} (TAB-separated, as the header)`);
      return build((col) => {
        const k = index.get(col);
        return k === undefined ? undefined : cells[k];
      }, line);
    });
  }
  return rows;
}

/** Parses JSON lines with `build(object, line)`; blank lines are skipped. */
function parseJsonl(file: string, skipMalformed: boolean, build: (o: Record<string, unknown>, line: number) => RawRow): Rows {
  const lines = readLines(file);
  const rows = new Rows(skipMalformed);
  lines.forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === '') return;
    rows.add(() => {
      let o: unknown;
      try {
        o = JSON.parse(text);
      } catch (err) {
        throw new DataFormatError(file, line, `bad JSON (${jsonErrorMessage(err)})`);
      }
      if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new DataFormatError(file, line, 'expected a JSON object');
      return build(o as Record<string, unknown>, line);
    });
  });
  return rows;
}

function stringField(file: string, line: number, o: Record<string, unknown>, key: string, optional: boolean): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') throw new DataFormatError(file, line, `"${key}" must be a string (got ${showInput(v)})`);
  return v;
}

/** Generic TSV rows (labels as raw strings). */
function parseGenericTsv(file: string, split: Split, skipMalformed: boolean): Rows {
  const first = readLines(file)[0]?.split('\t') ?? [];
  const hasLabel = first.includes('label');
  const hasB = first.includes('sentence2');
  const required = ['sentence1', ...(split === 'test' ? [] : ['label'])];
  return parseTsv(file, skipMalformed, required, (get, line) => {
    const row: RawRow = { line, textA: get('sentence1')! };
    if (hasB) row.textB = get('sentence2')!;
    if (hasLabel) row.label = get('label')!;
    return row;
  });
}

/** Generic JSONL rows (labels as raw strings). */
function parseGenericJsonl(file: string, split: Split, skipMalformed: boolean): Rows {
  return parseJsonl(file, skipMalformed, (o, line) => {
    const row: RawRow = { line, textA: stringField(file, line, o, 'text', false)! };
    const b = stringField(file, line, o, 'text_b', true);
    if (b !== undefined) row.textB = b;
    const label = o['label'];
    if (label === undefined || label === null) {
      if (split !== 'test') throw new DataFormatError(file, line, 'missing "label"');
    } else if (typeof label === 'string') row.label = label;
    else if (typeof label === 'number' && Number.isFinite(label)) row.label = String(label);
    else throw new DataFormatError(file, line, `"label" must be a string or a number (got ${showInput(label)})`);
    return row;
  });
}

/** Parses a numeric string strictly (no empty string, no trailing junk). */
function parseNumber(s: string): number {
  const t = s.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : NaN;
}

/** The data file of a task split. */
export function splitFile(task: Task, dataDir: string, split: Split): string {
  const s = task.source;
  switch (s.kind) {
    case 'mrpc':
      return path.join(dataDir, 'glue/MRPC', `${split}.tsv`);
    case 'stsb':
      return path.join(dataDir, 'glue/STS-B', `${split}.tsv`);
    case 'scibert':
      return path.join(dataDir, 'scibert', s.subdir, `${split}.jsonl`);
    default:
      return path.join(s.dir, `${split}.${s.kind}`);
  }
}

/**
 * Reads one split of a task.
 * @param task a Task or a spec for {@link getTask}.
 * @param dataDir the data root (built-in tasks); generic tasks use their own DIR.
 * @param options.skipMalformed skip malformed rows (counted in `skipped`) instead of failing.
 * @returns the examples in file order (label NaN when the split is unlabeled), the skip count,
 *   whether the split is labeled, and the file read.
 * @throws Error when the file is missing (naming it and how to point at the data); FileSystemError
 *   when it cannot be read; TextEncodingError when it is not UTF-8 text (UTF-16, binary); DataFormatError
 *   `FILE:LINE: ...` for a bad header (always), a malformed row (unless skipMalformed): wrong column
 *   count, non-numeric or out-of-range score, unknown label, bad JSON, missing field; and for a split
 *   without examples (a header-only file, or every row skipped). Input echoed in messages is capped
 *   at 200 characters.
 */
export function loadSplit(task: Task | string, dataDir: string, split: Split, options: { skipMalformed?: boolean } = {}): LoadedSplit {
  const t = typeof task === 'string' ? getTask(task) : task;
  if (split !== 'train' && split !== 'dev' && split !== 'test') throw new Error(`unknown split "${split as string}" (train, dev or test)`);
  const file = splitFile(t, dataDir, split);
  if (!fs.existsSync(file)) {
    const hint = t.source.kind === 'tsv' || t.source.kind === 'jsonl' ? '' : ` (data root ${dataDir}: pass --data-dir or set WEBPRUNE_DATA)`;
    throw new Error(`${file}: not found, for task ${t.name} split ${split}${hint}`);
  }
  const skip = options.skipMalformed ?? false;
  const { rows, labeled } = readRows(t, file, split, skip);
  const examples: Example[] = [];
  let skipped = rows.skipped;
  const classIndex = t.labelNames === undefined ? undefined : new Map(t.labelNames.map((n, i) => [n, i]));
  for (const r of rows.rows) {
    try {
      const ex: Example = { textA: r.textA, label: labeled ? labelOf(t, classIndex, r, file) : NaN };
      if (r.textB !== undefined) ex.textB = r.textB;
      examples.push(ex);
    } catch (err) {
      if (skip && err instanceof DataFormatError) skipped++;
      else throw err;
    }
  }
  const s = t.source;
  if (examples.length === 0) {
    const why = skipped > 0 ? `all ${skipped} rows are malformed and were skipped` : s.kind === 'tsv' || s.kind === 'mrpc' || s.kind === 'stsb' ? 'only a header row' : 'no non-blank lines';
    throw new DataFormatError(file, 1, `no examples (${why}); the ${split} split of ${t.name} needs at least one`);
  }
  return { examples, skipped, labeled, file };
}

/** The raw rows of a split file in the task's format, and whether the split has labels. */
function readRows(t: Task, file: string, split: Split, skip: boolean): { rows: Rows; labeled: boolean } {
  const s = t.source;
  if (s.kind === 'mrpc' || s.kind === 'stsb') {
    const labeled = split !== 'test';
    const [a, b, label] = s.kind === 'mrpc' ? ['#1 String', '#2 String', 'Quality'] : ['sentence1', 'sentence2', 'score'];
    const rows = parseTsv(file, skip, [a, b, ...(labeled ? [label] : [])], (get, line) => {
      const row: RawRow = { line, textA: get(a)!, textB: get(b)! };
      if (labeled) row.label = get(label)!;
      return row;
    });
    return { rows, labeled };
  }
  if (s.kind === 'scibert') {
    return { rows: parseJsonl(file, skip, (o, line) => ({ line, textA: stringField(file, line, o, 'text', false)!, label: stringField(file, line, o, 'label', false)! })), labeled: true };
  }
  const rows = s.kind === 'tsv' ? parseGenericTsv(file, split, skip) : parseGenericJsonl(file, split, skip);
  const labeled = rows.rows.length > 0 ? rows.rows.every((r) => r.label !== undefined) : split !== 'test';
  if (!labeled && rows.rows.some((r) => r.label !== undefined)) {
    const r = rows.rows.find((x) => x.label === undefined)!;
    throw new DataFormatError(file, r.line, 'missing label (other rows have one)');
  }
  return { rows, labeled };
}

/**
 * A labeled row's label: the score (regression) or the class index.
 * @throws DataFormatError naming the file and line for a non-numeric or out-of-range score or an unknown label
 */
function labelOf(t: Task, classIndex: Map<string, number> | undefined, r: RawRow, file: string): number {
  const raw = r.label!;
  const stsb = t.source.kind === 'stsb';
  if (t.isRegression) {
    const label = parseNumber(raw);
    if (!Number.isFinite(label)) throw new DataFormatError(file, r.line, `${stsb ? 'score' : 'label'} ${quoteInput(raw)} is not a number`);
    if (stsb && (label < 0 || label > 5)) throw new DataFormatError(file, r.line, `score ${label} is outside [0, 5]`);
    return label;
  }
  const idx = classIndex!.get(raw);
  if (idx === undefined) {
    const known = t.labelNames!.length <= 10 ? ` (known: ${t.labelNames!.join(', ')})` : '';
    throw new DataFormatError(file, r.line, `unknown label ${quoteInput(raw)}${known}`);
  }
  return idx;
}
