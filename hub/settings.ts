/**
 * Hugging Face hub settings from the environment, read as Python's huggingface_hub reads them, so a
 * machine set up for transformers works unchanged:
 * - `HF_ENDPOINT`: the hub's base URL (default https://huggingface.co);
 * - `HF_TOKEN` (or the legacy `HUGGING_FACE_HUB_TOKEN`), else the token file `HF_TOKEN_PATH`
 *   (default `$HF_HOME/token`) that `huggingface-cli login` writes;
 * - `HF_HUB_OFFLINE`: 1/ON/YES/TRUE (any case) makes no network request at all: only the cache;
 * - `HF_HUB_CACHE` (or `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`, HF_HOME defaulting to
 *   `$XDG_CACHE_HOME/huggingface` or `~/.cache/huggingface` (@huggingface/hub's getHFHubCachePath).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getHFHubCachePath } from '@huggingface/hub';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** A progress report of one file download. */
export interface DownloadProgress {
  /** `repo/path` of the file. */
  file: string;
  received: number;
  total: number;
  done: boolean;
}

/** How hub access is set up; every field defaults from the environment (see the module comment). */
export interface HubSettings {
  endpoint: string;
  /** An access token (hf_...), or undefined for anonymous access. */
  token: string | undefined;
  offline: boolean;
  /** The hub cache (Python huggingface_hub's layout). */
  cacheDir: string;
  /** Download progress; default: a progress bar on stderr (hub/progress.ts). */
  onProgress?: (p: DownloadProgress) => void;
  /** Notes for the user (a fallback to the cache, a dataset taken from the hub); default stderr. */
  log?: (message: string) => void;
  /** fetch to use (tests may wrap it); default the global one. */
  fetch?: typeof fetch;
}

/** Python's truthy spellings of a boolean environment variable. */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'on', 'yes', 'true'].includes(value.trim().toLowerCase());
}

function hfHome(env: NodeJS.ProcessEnv): string {
  return env['HF_HOME'] ?? path.join(env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'huggingface');
}

function tokenFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const direct = env['HF_TOKEN'] ?? env['HUGGING_FACE_HUB_TOKEN'];
  if (direct !== undefined && direct.trim() !== '') return direct.trim();
  const file = env['HF_TOKEN_PATH'] ?? path.join(hfHome(env), 'token');
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return t === '' ? undefined : t;
  } catch {
    return undefined;
  }
}

/**
 * The settings in force: `overrides` over the environment (process.env).
 * @throws Error when HF_ENDPOINT is not an http(s) URL
 */
export function hubSettings(overrides: Partial<HubSettings> = {}): HubSettings {
  const env = process.env;
  const endpoint = (overrides.endpoint ?? env['HF_ENDPOINT'] ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(endpoint)) throw new Error(`HF_ENDPOINT must be an http(s) URL (got ${JSON.stringify(endpoint)})`);
  return {
    endpoint,
    token: 'token' in overrides ? overrides.token : tokenFromEnv(env),
    offline: overrides.offline ?? envFlag(env['HF_HUB_OFFLINE']),
    cacheDir: overrides.cacheDir ?? getHFHubCachePath(),
    onProgress: overrides.onProgress,
    log: overrides.log,
    fetch: overrides.fetch,
  };
}
