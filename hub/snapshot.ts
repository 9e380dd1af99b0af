/**
 * Files of a hub repository at a revision, in the standard hub cache: the layout of Python's
 * huggingface_hub, so models and datasets a user already downloaded with transformers or datasets
 * are found, and what webprune downloads is found by them:
 *
 *   CACHE/models--org--name/                  (datasets--org--name for datasets)
 *     refs/REVISION                           the commit hash the revision (branch, tag) resolved to
 *     blobs/ETAG                              file contents, named by the LFS sha256 or the git blob id
 *     snapshots/COMMIT/PATH  →  ../../blobs/ETAG   (relative symlinks)
 *
 * Online, the revision is resolved to a commit with the hub API (@huggingface/hub modelInfo /
 * datasetInfo), the file list with listFiles, and contents come from the resolve endpoint
 * (downloadFile), streamed to `blobs/ETAG.PID.incomplete`, checked (size; sha256 for LFS files)
 * and renamed into place, so an interrupted download never leaves a blob that looks complete.
 * Offline (HF_HUB_OFFLINE=1), or when the hub cannot be reached, only the cache is used.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HubApiError, type ListFileEntry, datasetInfo, downloadFile, getRepoFolderName, listFiles, modelInfo } from '@huggingface/hub';
import { stderrProgress } from './progress.ts';
import type { HubSettings } from './settings.ts';

export type RepoType = 'model' | 'dataset';

/** A failure to get something from the hub or the cache; the message says what and how to fix it. */
export class HubError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubError';
  }
}

/** A repository at a resolved commit, and where its snapshot lives in the cache. */
export interface Snapshot {
  type: RepoType;
  name: string;
  /** As asked (branch, tag or commit). */
  revision: string;
  commit: string;
  /** CACHE/<repo folder>/snapshots/COMMIT */
  dir: string;
  /** The repo's files at the commit (path → entry) when online; null when only the cache is used. */
  files: Map<string, ListFileEntry> | null;
}

const COMMIT_RE = /^[0-9a-f]{40}$/;

/** "model org/name@rev" for messages. */
export function describeRepo(type: RepoType, name: string, revision: string): string {
  return `${type} ${name}${revision === 'main' ? '' : `@${revision}`}`;
}

function storageDir(settings: HubSettings, type: RepoType, name: string): string {
  return path.join(settings.cacheDir, getRepoFolderName({ type, name }));
}

/** The commit a revision points at in the cache (refs/REVISION, or the revision itself if a commit hash). */
function cachedCommit(settings: HubSettings, type: RepoType, name: string, revision: string): string | null {
  const storage = storageDir(settings, type, name);
  if (COMMIT_RE.test(revision)) return fs.existsSync(path.join(storage, 'snapshots', revision)) ? revision : null;
  try {
    const commit = fs.readFileSync(path.join(storage, 'refs', revision), 'utf8').trim();
    return COMMIT_RE.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

/** The snapshot of the cache alone; throws a HubError saying why when it is not there. */
function cachedSnapshot(settings: HubSettings, type: RepoType, name: string, revision: string, why: string): Snapshot {
  const commit = cachedCommit(settings, type, name, revision);
  if (commit === null) {
    throw new HubError(`${describeRepo(type, name, revision)}: ${why}, and it is not in the hub cache ${settings.cacheDir} (no ${path.join(getRepoFolderName({ type, name }), COMMIT_RE.test(revision) ? `snapshots/${revision}` : `refs/${revision}`)})`);
  }
  return { type, name, revision, commit, dir: path.join(storageDir(settings, type, name), 'snapshots', commit), files: null };
}

/** A hub API error as a message that says what to do. */
function apiMessage(err: HubApiError, type: RepoType, name: string, revision: string, settings: HubSettings): string {
  const what = describeRepo(type, name, revision);
  if (err.statusCode === 401 || err.statusCode === 403) {
    return `${what}: access denied by ${settings.endpoint} (HTTP ${err.statusCode}); ${settings.token ? 'the token in HF_TOKEN has no access to it (gated? accept its terms on the hub)' : 'if it is private or gated, set HF_TOKEN to an access token'}`;
  }
  if (err.statusCode === 404) {
    return `${what}: not found on ${settings.endpoint} (HTTP 404: ${err.message.split('. URL:')[0]})${settings.token ? '' : '; if it is private, set HF_TOKEN'}`;
  }
  return `${what}: ${settings.endpoint} answered HTTP ${err.statusCode} (${err.message})`;
}

function credentials(settings: HubSettings) {
  if (settings.token !== undefined && !settings.token.startsWith('hf_')) throw new HubError('HF_TOKEN must be a Hugging Face access token (hf_...)');
  return { hubUrl: settings.endpoint, accessToken: settings.token, fetch: settings.fetch };
}

/**
 * Resolves `name@revision` to a commit and lists its files (online), or finds it in the cache
 * (offline, or when the hub cannot be reached: then `settings.log` says so).
 * @throws HubError: not found (404), access denied (401/403, naming HF_TOKEN), or not in the cache
 *   when offline / unreachable
 */
export async function openSnapshot(type: RepoType, name: string, revision: string, settings: HubSettings): Promise<Snapshot> {
  if (settings.offline) return cachedSnapshot(settings, type, name, revision, 'HF_HUB_OFFLINE is set');
  const creds = credentials(settings);
  let commit: string;
  const files = new Map<string, ListFileEntry>();
  try {
    const info = type === 'model' ? await modelInfo({ name, revision, additionalFields: ['sha'], ...creds }) : await datasetInfo({ name, revision, additionalFields: ['sha'], ...creds });
    commit = String((info as { sha?: unknown }).sha ?? '');
    if (!COMMIT_RE.test(commit)) throw new HubError(`${describeRepo(type, name, revision)}: ${settings.endpoint} gave no commit hash for the revision`);
    for await (const entry of listFiles({ repo: { type, name }, revision: commit, recursive: true, ...creds })) {
      if (entry.type === 'file') files.set(entry.path, entry);
    }
  } catch (err) {
    if (err instanceof HubError) throw err;
    if (err instanceof HubApiError) throw new HubError(apiMessage(err, type, name, revision, settings));
    // No answer at all (DNS, refused, reset): use the cache as Python's huggingface_hub does.
    const reason = `${settings.endpoint} cannot be reached (${(err as Error).message}${(err as { cause?: Error }).cause ? `: ${(err as { cause: Error }).cause.message}` : ''})`;
    const snap = cachedSnapshot(settings, type, name, revision, reason);
    (settings.log ?? console.error)(`${reason}; using the cached ${describeRepo(type, name, revision)} (${snap.commit.slice(0, 12)})`);
    return snap;
  }
  const storage = storageDir(settings, type, name);
  if (revision !== commit) {
    const ref = path.join(storage, 'refs', revision);
    fs.mkdirSync(path.dirname(ref), { recursive: true });
    fs.writeFileSync(ref, commit);
  }
  return { type, name, revision, commit, dir: path.join(storage, 'snapshots', commit), files };
}

/** Whether the snapshot has `file` (in the listing online; in the cache offline). */
export function hasFile(snap: Snapshot, file: string): boolean {
  return snap.files ? snap.files.has(file) : fs.existsSync(path.join(snap.dir, file));
}

/** The snapshot's files (listing online, the cached files offline), relative paths. */
export function listSnapshot(snap: Snapshot): string[] {
  if (snap.files) return [...snap.files.keys()];
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(snap.dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  if (fs.existsSync(snap.dir)) walk('');
  return out.sort();
}

/** Streams one file from the hub into its blob (see the module comment). */
async function downloadBlob(snap: Snapshot, entry: ListFileEntry, blob: string, settings: HubSettings): Promise<void> {
  const label = `${snap.name}/${entry.path}`;
  const size = entry.lfs?.size ?? entry.size;
  const progress = settings.onProgress ?? stderrProgress();
  const data = await downloadFile({ repo: { type: snap.type, name: snap.name }, path: entry.path, revision: snap.commit, ...credentials(settings) }).catch((err: unknown) => {
    throw err instanceof HubApiError ? new HubError(`${label}: ${apiMessage(err, snap.type, snap.name, snap.revision, settings)}`) : err;
  });
  if (data === null) throw new HubError(`${label}: the resolve endpoint has no such file at ${snap.commit}`);
  fs.mkdirSync(path.dirname(blob), { recursive: true });
  const partial = `${blob}.${process.pid}.incomplete`;
  const out = fs.openSync(partial, 'w');
  const hash = createHash('sha256');
  let received = 0;
  try {
    progress({ file: label, received: 0, total: size, done: false });
    const reader = data.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      fs.writeSync(out, value);
      hash.update(value);
      received += value.byteLength;
      progress({ file: label, received, total: size, done: false });
    }
  } catch (err) {
    fs.closeSync(out);
    fs.rmSync(partial, { force: true });
    throw new HubError(`${label}: download failed after ${received} of ${size} bytes (${(err as Error).message}); run the command again to retry`);
  }
  fs.closeSync(out);
  const sha = hash.digest('hex');
  if (received !== size || (entry.lfs !== undefined && sha !== entry.lfs.oid)) {
    fs.rmSync(partial, { force: true });
    const what = received !== size ? `got ${received} of ${size} bytes` : `sha256 ${sha} differs from the hub's ${entry.lfs!.oid}`;
    throw new HubError(`${label}: download incomplete or corrupt (${what}); run the command again to retry`);
  }
  fs.renameSync(partial, blob);
  progress({ file: label, received, total: size, done: true });
}

/**
 * Makes sure each of `files` is in the snapshot folder, downloading what is missing (see the module
 * comment). Offline snapshots only check.
 * @throws HubError naming the file: not in the repository, missing from the cache when offline, or a
 *   failed / truncated / corrupt download (nothing half-written is left behind)
 */
export async function ensureFiles(snap: Snapshot, files: readonly string[], settings: HubSettings): Promise<void> {
  const storage = path.dirname(path.dirname(snap.dir));
  for (const file of files) {
    const pointer = path.join(snap.dir, file);
    if (fs.existsSync(pointer)) continue;
    if (snap.files === null) {
      throw new HubError(`${describeRepo(snap.type, snap.name, snap.revision)}: ${file} is not in the hub cache (${pointer}) and the hub is not used (offline or unreachable)`);
    }
    const entry = snap.files.get(file);
    if (!entry) throw new HubError(`${describeRepo(snap.type, snap.name, snap.revision)}: the repository has no file ${file}`);
    const etag = entry.lfs?.oid ?? entry.oid;
    if (!etag) throw new HubError(`${snap.name}/${file}: the hub's listing gives no object id`);
    const blob = path.join(storage, 'blobs', etag);
    if (!fs.existsSync(blob)) await downloadBlob(snap, entry, blob, settings);
    fs.mkdirSync(path.dirname(pointer), { recursive: true });
    fs.rmSync(pointer, { force: true }); // a dangling link
    fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer);
  }
}
