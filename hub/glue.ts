/**
 * GLUE tasks from the Hugging Face hub when the data root lacks them: `mrpc` and `stsb` fall back
 * to the dataset `nyu-mll/glue` (configs `mrpc`, `stsb`; parquet files `CONFIG/SPLIT-0000k-of-0000n.parquet`
 * with columns sentence1, sentence2, label, idx), fetched into the hub cache (hub/snapshot.ts),
 * read with hyparquet, and written once in the layout data/tasks.ts reads:
 *
 *   WEBPRUNE_CACHE/hub-data/nyu-mll--glue/COMMIT/glue/MRPC/{train,dev,test}.tsv   (and glue/STS-B/)
 *
 * Jobs get one data root: an overlay of the user's (ensureTaskData) with these folders linked in.
 * (WEBPRUNE_CACHE defaults to $XDG_CACHE_HOME/webprune or ~/.cache/webprune.) The hub's
 * `validation` split is GLUE's dev; test labels (-1 on the hub) are left out, as in GLUE's own
 * test files. MRPC rows keep the hub's `idx` in place of the original sentence ids.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { defaultDataDir } from '../data/paths.ts';
import { type Task, getTask, splitFile } from '../data/tasks.ts';
import { writeFileAtomic } from '../models/io/atomic.ts';
import { type HubSettings, hubSettings } from './settings.ts';
import { HubError, ensureFiles, listSnapshot, openSnapshot } from './snapshot.ts';

/** The hub dataset GLUE tasks fall back to. */
export const GLUE_DATASET = 'nyu-mll/glue';

/** Per task: the dataset config and how its rows become data/tasks.ts's TSV files. */
const GLUE_TASKS = {
  mrpc: { config: 'mrpc', folder: 'glue/MRPC' },
  stsb: { config: 'stsb', folder: 'glue/STS-B' },
} as const;

const SPLITS = [
  { hub: 'train', ours: 'train' },
  { hub: 'validation', ours: 'dev' },
  { hub: 'test', ours: 'test' },
] as const;

/** webprune's own cache folder (converted datasets). */
export function webpruneCacheDir(): string {
  return process.env['WEBPRUNE_CACHE'] ?? path.join(process.env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'webprune');
}

interface GlueRow {
  sentence1: string;
  sentence2: string;
  label: number;
  idx: number;
}

/** Reads the rows of a GLUE parquet file. @throws HubError naming the file when a column is missing or mistyped */
export async function readGlueParquet(file: string): Promise<GlueRow[]> {
  const bytes = fs.readFileSync(file);
  const rows = (await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), compressors })) as Array<Record<string, unknown>>;
  return rows.map((r, i) => {
    const label = typeof r['label'] === 'bigint' ? Number(r['label']) : r['label'];
    const idx = typeof r['idx'] === 'bigint' ? Number(r['idx']) : r['idx'];
    if (typeof r['sentence1'] !== 'string' || typeof r['sentence2'] !== 'string' || typeof label !== 'number' || typeof idx !== 'number') {
      throw new HubError(`${file}: row ${i} lacks string sentence1/sentence2 and numeric label/idx (got ${JSON.stringify(Object.keys(r))})`);
    }
    return { sentence1: r['sentence1'], sentence2: r['sentence2'], label, idx };
  });
}

/** A TSV cell: tabs and line breaks would break data/tasks.ts's TAB-only parser. */
function cell(s: string, where: string): string {
  if (/[\t\r\n]/.test(s)) throw new HubError(`${where}: a sentence holds a tab or line break, which the TSV layout cannot carry`);
  return s;
}

/** The TSV text of one split in the layout data/tasks.ts reads for `task`. */
export function glueTsv(task: 'mrpc' | 'stsb', rows: readonly GlueRow[], labeled: boolean, where: string): string {
  const lines: string[] = [];
  if (task === 'mrpc') {
    lines.push(`${labeled ? 'Quality' : 'index'}\t#1 ID\t#2 ID\t#1 String\t#2 String`);
    for (const r of rows) lines.push([labeled ? String(r.label) : String(r.idx), String(r.idx), String(r.idx), cell(r.sentence1, where), cell(r.sentence2, where)].join('\t'));
  } else {
    lines.push(labeled ? 'index\tsentence1\tsentence2\tscore' : 'index\tsentence1\tsentence2');
    for (const r of rows) lines.push([String(r.idx), cell(r.sentence1, where), cell(r.sentence2, where), ...(labeled ? [String(r.label)] : [])].join('\t'));
  }
  return `${lines.join('\n')}\n`;
}

/** Whether the data root has a task's train and dev files. */
function hasTask(task: Task, dataDir: string): boolean {
  return fs.existsSync(splitFile(task, dataDir, 'train')) && fs.existsSync(splitFile(task, dataDir, 'dev'));
}

/**
 * The converted GLUE folder of `task` (mrpc or stsb) in webprune's cache, fetching and converting
 * it from the hub the first time (see the module comment).
 * @returns the folder holding train.tsv, dev.tsv (and test.tsv)
 */
async function glueFolder(task: Task & { source: { kind: 'mrpc' | 'stsb' } }, dataDir: string, settings: HubSettings): Promise<string> {
  const kind = task.source.kind;
  const glue = GLUE_TASKS[kind];
  const snap = await openSnapshot('dataset', GLUE_DATASET, 'main', settings);
  const folder = path.join(webpruneCacheDir(), 'hub-data', GLUE_DATASET.replace('/', '--'), snap.commit, glue.folder);
  if (['train', 'dev'].every((s) => fs.existsSync(path.join(folder, `${s}.tsv`)))) return folder;
  (settings.log ?? console.error)(`task ${task.name}: ${dataDir} has no ${path.relative(dataDir, splitFile(task, dataDir, 'train'))}; using the hub dataset ${GLUE_DATASET} (${glue.config}) at ${snap.commit.slice(0, 12)}`);
  const all = listSnapshot(snap);
  for (const split of SPLITS) {
    const re = new RegExp(`^${glue.config}/${split.hub}-\\d{5}-of-\\d{5}\\.parquet$`);
    const shards = all.filter((f) => re.test(f)).sort();
    if (shards.length === 0) {
      if (split.ours === 'test') continue;
      throw new HubError(`dataset ${GLUE_DATASET}: no ${glue.config}/${split.hub}-*.parquet${snap.files ? '' : ' in the hub cache'}`);
    }
    await ensureFiles(snap, shards, settings);
    const rows: GlueRow[] = [];
    for (const s of shards) rows.push(...(await readGlueParquet(path.join(snap.dir, s))));
    const labeled = split.ours !== 'test' && rows.every((r) => r.label >= 0);
    fs.mkdirSync(folder, { recursive: true });
    writeFileAtomic(path.join(folder, `${split.ours}.tsv`), glueTsv(kind, rows, labeled, `${GLUE_DATASET}/${shards[0]}`));
  }
  return folder;
}

/** A symlink at `at` to `target`, replacing whatever is at `at`. */
function link(target: string, at: string): void {
  fs.rmSync(at, { recursive: true, force: true });
  fs.symlinkSync(target, at);
}

/**
 * A data root that has every task's train and dev files: `dataDir` itself when it has them (tasks
 * other than mrpc/stsb, and generic `tsv:`/`jsonl:` tasks with their own folder, are never looked
 * up on the hub), else an overlay of it in webprune's cache: symlinks to everything `dataDir` holds
 * (vocab/, scibert/, glue/ folders it has), plus the missing GLUE folders converted from the hub's
 * nyu-mll/glue (see the module comment). So a job reads all its tasks and the vocabulary from the
 * one root it is given.
 * @param tasks task specs (undefined entries ignored: an absent --transfer)
 * @param dataDir the data root (default: data/paths.ts defaultDataDir; it may not exist)
 * @param overrides hub settings over the environment (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, HF_HUB_CACHE)
 * @returns the data root to read the tasks from
 * @throws HubError when the hub and the cache cannot provide a missing task (offline, not found,
 *   failed download) or its parquet files are not GLUE's; Error for an unknown task spec
 */
export async function ensureTaskData(tasks: string | Task | ReadonlyArray<string | Task | undefined>, dataDir: string = defaultDataDir(), overrides: Partial<HubSettings> = {}): Promise<string> {
  const list = (Array.isArray(tasks) ? tasks : [tasks]).filter((t): t is string | Task => t !== undefined).map((t) => (typeof t === 'string' ? getTask(t) : t));
  const missing = list.filter((t) => (t.source.kind === 'mrpc' || t.source.kind === 'stsb') && !hasTask(t, dataDir));
  if (missing.length === 0) return dataDir;
  const settings = hubSettings(overrides);
  const folders = new Map<string, string>();
  for (const t of missing) {
    const glue = t as Task & { source: { kind: 'mrpc' | 'stsb' } };
    folders.set(GLUE_TASKS[glue.source.kind].folder, await glueFolder(glue, dataDir, settings));
  }

  // The overlay, rebuilt on every call (symlinks only), one per data root.
  const abs = path.resolve(dataDir);
  const root = path.join(webpruneCacheDir(), 'hub-data', 'roots', createHash('sha256').update(abs).digest('hex').slice(0, 16));
  fs.mkdirSync(path.join(root, 'glue'), { recursive: true });
  const entries = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
  for (const e of entries(abs)) if (e !== 'glue') link(path.join(abs, e), path.join(root, e));
  for (const e of entries(path.join(abs, 'glue'))) link(path.join(abs, 'glue', e), path.join(root, 'glue', e));
  for (const [rel, folder] of folders) link(folder, path.join(root, rel));
  return root;
}
