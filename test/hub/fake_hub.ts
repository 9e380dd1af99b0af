/**
 * A Hugging Face hub on the loopback interface, for tests that must never reach the network. It
 * serves, from files held in memory, what hub/ uses:
 * - GET /api/{models|datasets}/NAME/revision/REV        → {_id, id, sha} (modelInfo / datasetInfo)
 * - GET /api/{models|datasets}/NAME/tree/REV[/PATH]     → [{type, path, size, oid, lfs?}] (listFiles)
 * - GET /NAME/resolve/REV/PATH, /datasets/NAME/resolve/REV/PATH, with Range support (downloadFile)
 * with the hub's error codes (404 + X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound,
 * 401 for private repositories without the token), and faults on request: a response cut short.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  type: 'model' | 'dataset';
  name: string;
  /** 40-hex commit of `main`. */
  commit: string;
  /** Other revisions (tags, branches) → the same files at this commit. */
  tags?: Record<string, string>;
  files: Map<string, Uint8Array>;
  /** Needs `Authorization: Bearer TOKEN`. */
  token?: string;
}

/** Files served as LFS objects (oid = sha256), as the hub does for weights and data. */
const isLfs = (p: string) => /\.(safetensors|parquet|bin)$/.test(p);

const gitOid = (bytes: Uint8Array) => createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  /** Every request, "METHOD URL" with the Authorization header when sent. */
  readonly requests: Array<{ method: string; url: string; auth: string | undefined }> = [];
  /** `repo/path` whose next full download is cut after half of its bytes. */
  readonly truncateOnce = new Set<string>();
  private server: http.Server | null = null;
  endpoint = '';

  add(repo: FakeRepo): void {
    this.repos.set(`${repo.type}:${repo.name}`, repo);
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** Requests to the resolve endpoint (file contents) made so far. */
  downloads(): string[] {
    return this.requests.filter((r) => r.url.includes('/resolve/')).map((r) => r.url);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? 'GET', url: url.pathname, auth: req.headers.authorization });
    const fail = (status: number, code: string, message: string) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'X-Error-Code': code });
      res.end(JSON.stringify({ error: message }));
    };
    const p = decodeURIComponent(url.pathname);
    let m = /^\/api\/(models|datasets)\/(.+?)\/(revision|tree)\/([^/]+)(?:\/(.*))?$/.exec(p);
    let type: 'model' | 'dataset';
    let name: string;
    let rev: string;
    let file: string | undefined;
    let kind: 'revision' | 'tree' | 'resolve';
    if (m) {
      type = m[1] === 'models' ? 'model' : 'dataset';
      [name, kind, rev, file] = [m[2]!, m[3] as 'revision' | 'tree', m[4]!, m[5]];
    } else if ((m = /^\/(datasets\/)?(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(p))) {
      type = m[1] ? 'dataset' : 'model';
      [name, kind, rev, file] = [m[2]!, 'resolve', m[3]!, m[4]];
    } else return fail(404, 'NotFound', `no route ${p}`);

    const repo = this.repos.get(`${type}:${name}`);
    if (!repo) return fail(404, 'RepoNotFound', 'Repository not found');
    if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) return fail(401, 'GatedRepo', 'Invalid credentials in Authorization header');
    const commit = rev === 'main' || rev === 'HEAD' || rev === repo.commit ? repo.commit : (repo.tags?.[rev] ?? Object.values(repo.tags ?? {}).find((c) => c === rev));
    if (commit === undefined) return fail(404, 'RevisionNotFound', `Invalid rev id: ${rev}`);

    if (kind === 'revision') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return void res.end(JSON.stringify({ _id: `id-${name}`, id: name, sha: commit, private: repo.token !== undefined, siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) }));
    }
    if (kind === 'tree') {
      const prefix = file ? `${file.replace(/\/$/, '')}/` : '';
      const recursive = url.searchParams.get('recursive') === 'true';
      const entries: unknown[] = [];
      const dirs = new Set<string>();
      for (const [path, bytes] of repo.files) {
        if (!path.startsWith(prefix)) continue;
        const rest = path.slice(prefix.length);
        if (!recursive && rest.includes('/')) {
          dirs.add(prefix + rest.split('/')[0]!);
          continue;
        }
        for (let i = rest.indexOf('/'); recursive && i >= 0; i = rest.indexOf('/', i + 1)) dirs.add(prefix + rest.slice(0, i));
        entries.push({ type: 'file', path, size: bytes.byteLength, oid: gitOid(bytes), ...(isLfs(path) ? { lfs: { oid: sha256(bytes), size: bytes.byteLength, pointerSize: 134 } } : {}) });
      }
      for (const d of dirs) entries.push({ type: 'directory', path: d, size: 0, oid: gitOid(new TextEncoder().encode(d)) });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return void res.end(JSON.stringify(entries));
    }
    const bytes = repo.files.get(file!);
    if (!bytes) return fail(404, 'EntryNotFound', `${file} does not exist on "${rev}"`);
    const etag = `"${isLfs(file!) ? sha256(bytes) : gitOid(bytes)}"`;
    const headers = { ETag: etag, 'X-Repo-Commit': commit, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] === '' ? bytes.byteLength - 1 : Math.min(Number(range[2]), bytes.byteLength - 1);
      res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end}/${bytes.byteLength}`, 'Content-Length': String(end - start + 1) });
      return void res.end(bytes.subarray(start, end + 1));
    }
    res.writeHead(200, { ...headers, 'Content-Length': String(bytes.byteLength) });
    const key = `${name}/${file}`;
    if (this.truncateOnce.delete(key)) {
      // Half the promised bytes, then the connection drops.
      res.write(bytes.subarray(0, bytes.byteLength >> 1), () => res.destroy());
      return;
    }
    res.end(bytes);
  }
}

/** A random-looking 40-hex commit id derived from a label. */
export function commitOf(label: string): string {
  return createHash('sha1').update(label).digest('hex');
}
