/**
 * `--model` / `--teacher` values that name a Hugging Face hub model (`bert-base-uncased`,
 * `org/name`, `org/name@revision`) resolved to a local checkpoint directory in the hub cache
 * (hub/snapshot.ts), downloading what is missing: config.json, the safetensors weights (one file,
 * or the index and its shards) and the tokenizer files the repository has. PyTorch pickles are
 * never downloaded: a repository with only `pytorch_model.bin` gets the checkpoint loader's message
 * with the command that converts it.
 */
import * as fs from 'node:fs';
import { isNamedConfig } from '../models/load.ts';
import { CheckpointError, INDEX_FILE, PICKLE_RE, SINGLE_FILE, pickleRefusal } from '../models/io/checkpoint.ts';
import { type HubSettings, hubSettings } from './settings.ts';
import { HubError, type Snapshot, describeRepo, ensureFiles, hasFile, listSnapshot, openSnapshot } from './snapshot.ts';

/** Tokenizer files fetched when the repository has them. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'];

/** A parsed hub model id. */
export interface HubModelId {
  name: string;
  revision: string;
}

/** Repository names as the hub allows them: `name` or `org/name`, letters, digits, `-`, `_`, `.`. */
const REPO_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/**
 * Parses `name[@revision]` / `org/name[@revision]`; null when `spec` cannot be a hub id (a path
 * such as `./x`, `/x`, `a/b/c`, or names with `--` or `..`, which the hub refuses).
 */
export function parseHubModelId(spec: string): HubModelId | null {
  const at = spec.indexOf('@');
  const name = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? 'main' : spec.slice(at + 1);
  if (!REPO_RE.test(name) || name.includes('--') || name.includes('..') || name.length > 96) return null;
  if (revision === '' || /\s/.test(revision) || revision.includes('..')) return null;
  return { name, revision };
}

/** The weight files of a snapshot: model.safetensors, or the index and its shards. */
async function weightFiles(snap: Snapshot, settings: HubSettings): Promise<string[]> {
  if (hasFile(snap, SINGLE_FILE)) return [SINGLE_FILE];
  if (hasFile(snap, INDEX_FILE)) {
    await ensureFiles(snap, [INDEX_FILE], settings);
    const index = `${snap.dir}/${INDEX_FILE}`;
    let map: unknown;
    try {
      map = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch (err) {
      throw new HubError(`${index}: not valid JSON (${(err as Error).message})`);
    }
    if (map === null || typeof map !== 'object') throw new HubError(`${index}: must hold "weight_map": {tensor: file}`);
    return [INDEX_FILE, ...new Set(Object.values(map as Record<string, string>))];
  }
  const what = describeRepo(snap.type, snap.name, snap.revision);
  const pickle = listSnapshot(snap).find((f) => PICKLE_RE.test(f) && !f.includes('/'));
  if (pickle) {
    const target = `models/${snap.name.replace('/', '--')}`;
    const refusal = pickleRefusal(`${what}: ${pickle}`, snap.name, target);
    throw new CheckpointError(`${refusal.message}; then pass --model ${target}`);
  }
  throw new HubError(`${what}: no ${SINGLE_FILE} or ${INDEX_FILE} in the repository${snap.files ? '' : ' cache'}`);
}

/**
 * The local source of a `--model` value: an existing path or a named config (tiny, mini, small,
 * base) unchanged; a hub id resolved to its snapshot directory in the hub cache, downloaded as needed.
 * @param overrides hub settings over the environment (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, HF_HUB_CACHE)
 * @returns a directory (or the config name) that models/load.ts loadModel takes
 * @throws HubError when the id is not found, access is denied, the hub is offline or unreachable and
 *   the cache lacks it, or a download fails; CheckpointError (with the conversion command) for a
 *   repository with only PyTorch pickle weights; Error when `spec` is neither a path, a config name
 *   nor a possible hub id
 */
export async function resolveModelSource(spec: string, overrides: Partial<HubSettings> = {}): Promise<string> {
  if (fs.existsSync(spec) || isNamedConfig(spec)) return spec;
  const id = parseHubModelId(spec);
  if (id === null) throw new Error(`model ${spec}: no such directory, not a config name (tiny, mini, small, base), and not a hub id (name or org/name, optionally @revision)`);
  const settings = hubSettings(overrides);
  let snap: Snapshot;
  try {
    snap = await openSnapshot('model', id.name, id.revision, settings);
  } catch (err) {
    if (err instanceof HubError && /not found/.test(err.message) && id.name.includes('/')) {
      throw new HubError(`${spec}: no such directory; as a hub id: ${err.message}`);
    }
    throw err;
  }
  if (!hasFile(snap, 'config.json')) throw new HubError(`${describeRepo('model', id.name, id.revision)}: no config.json${snap.files ? '' : ' in the cache'}`);
  const weights = await weightFiles(snap, settings);
  const tokenizer = TOKENIZER_FILES.filter((f) => snap.files?.has(f));
  await ensureFiles(snap, ['config.json', ...weights, ...tokenizer], settings);
  return snap.dir;
}
