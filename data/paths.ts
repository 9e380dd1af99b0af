/** Where the project's read-only data lives. */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the parent of this file's `data/` directory). */
export const repoRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The data root laid out like `/work/shared/data` (glue/, scibert/, vocab/, corpus/):
 * `$WEBPRUNE_DATA` when set, else `../shared/data` relative to the repository root.
 */
export function defaultDataDir(): string {
  return process.env['WEBPRUNE_DATA'] ?? path.resolve(repoRoot, '../shared/data');
}
