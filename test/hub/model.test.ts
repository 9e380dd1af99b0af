import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { HubError } from '../../hub/snapshot.ts';
import { parseHubModelId, resolveModelSource } from '../../hub/model.ts';
import type { DownloadProgress, HubSettings } from '../../hub/settings.ts';
import { hubSettings } from '../../hub/settings.ts';
import { denseConfigOf } from '../../jobs/inputs.ts';
import { parameterCount } from '../../models/config.ts';
import { loadCheckpoint, saveCheckpoint } from '../../models/io/checkpoint.ts';
import { initialValues } from '../../models/bert.ts';
import { testConfig, writeTestModel } from '../export/fixtures.ts';
import { FakeHub, commitOf, sha256 } from './fake_hub.ts';
import { skipBecause } from '../helpers.ts';

/** The files of a directory as an in-memory repository. */
function filesOf(dir: string, only?: (f: string) => boolean): Map<string, Uint8Array> {
  return new Map(fs.readdirSync(dir).filter((f) => only?.(f) ?? true).map((f) => [f, new Uint8Array(fs.readFileSync(path.join(dir, f)))]));
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('hub: --model hub ids against a loopback hub @gpu', function () {
  this.timeout(120000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-hub-'));
  const hub = new FakeHub();
  const src = path.join(tmp, 'src');
  const sharded = path.join(tmp, 'sharded');
  let cacheDir: string;
  let progress: DownloadProgress[];
  let logs: string[];
  const settings = (extra: Partial<HubSettings> = {}): Partial<HubSettings> => ({ endpoint: hub.endpoint, cacheDir, token: undefined, offline: false, onProgress: (p) => progress.push(p), log: (m) => logs.push(m), ...extra });

  before(async () => {
    writeTestModel(src, testConfig('pruned'), 5);
    fs.writeFileSync(path.join(src, 'README.md'), '# not downloaded\n');
    const dense = testConfig('dense');
    fs.mkdirSync(sharded);
    saveCheckpoint(sharded, dense, initialValues(dense, 'classification', 6), { maxShardBytes: 2 ** 20 });
    hub.add({ type: 'model', name: 'acme/pruned', commit: commitOf('pruned'), tags: { v1: commitOf('pruned-v1') }, files: filesOf(src) });
    hub.add({ type: 'model', name: 'tiny-canonical', commit: commitOf('canonical'), files: filesOf(src) });
    hub.add({ type: 'model', name: 'acme/sharded', commit: commitOf('sharded'), files: filesOf(sharded) });
    hub.add({ type: 'model', name: 'acme/private', commit: commitOf('private'), files: filesOf(src), token: 'hf_secret' });
    hub.add({ type: 'model', name: 'acme/pickles', commit: commitOf('pickles'), files: new Map([['config.json', new Uint8Array(fs.readFileSync(path.join(src, 'config.json')))], ['pytorch_model.bin', new Uint8Array(16)]]) });
    await hub.start();
  });
  beforeEach(() => {
    cacheDir = fs.mkdtempSync(path.join(tmp, 'cache-'));
    progress = [];
    logs = [];
    hub.requests.length = 0;
  });
  after(async () => {
    await hub.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('parses hub ids and tells them from paths', () => {
    expect(parseHubModelId('bert-base-uncased')).to.deep.equal({ name: 'bert-base-uncased', revision: 'main' });
    expect(parseHubModelId('org/name@v1.0')).to.deep.equal({ name: 'org/name', revision: 'v1.0' });
    expect(parseHubModelId('org/name@refs/pr/1')).to.deep.equal({ name: 'org/name', revision: 'refs/pr/1' });
    for (const bad of ['./x', '/abs/dir', 'a/b/c', 'a--b', 'org/na..me', 'x@', '']) expect(parseHubModelId(bad), bad).to.equal(null);
  });

  it('downloads config, safetensors and tokenizer into the standard cache layout, with progress, and loads', async () => {
    const dir = await resolveModelSource('acme/pruned', settings());
    const commit = commitOf('pruned');
    const storage = path.join(cacheDir, 'models--acme--pruned');
    expect(dir).to.equal(path.join(storage, 'snapshots', commit));
    expect(fs.readFileSync(path.join(storage, 'refs/main'), 'utf8')).to.equal(commit);
    const weights = fs.readFileSync(path.join(src, 'model.safetensors'));
    // The blob is named by its sha256 (the LFS oid), the snapshot entry is a relative symlink to it.
    expect(fs.readlinkSync(path.join(dir, 'model.safetensors'))).to.equal(`../../blobs/${sha256(weights)}`);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt'].filter((f) => fs.existsSync(path.join(src, f))).sort());
    expect(fs.readdirSync(dir)).to.not.include('README.md');
    expect(fs.readdirSync(path.join(storage, 'blobs')).some((f) => f.includes('incomplete'))).to.equal(false);
    const back = loadCheckpoint(dir);
    const orig = loadCheckpoint(src);
    expect(back.config.layers).to.deep.equal(orig.config.layers);
    for (const [n, t] of orig.tensors) expect(Buffer.from(back.tensors.get(n)!.data.buffer).equals(Buffer.from(t.data.buffer)), n).to.equal(true);
    const w = progress.filter((p) => p.file === 'acme/pruned/model.safetensors');
    expect(w[0]).to.deep.include({ received: 0, total: weights.byteLength, done: false });
    expect(w.at(-1)).to.deep.include({ received: weights.byteLength, done: true });

    // Warm cache: nothing is downloaded again; offline: no request at all.
    const before = hub.downloads().length;
    expect(await resolveModelSource('acme/pruned', settings())).to.equal(dir);
    expect(hub.downloads().length).to.equal(before);
    hub.requests.length = 0;
    expect(await resolveModelSource('acme/pruned', settings({ offline: true }))).to.equal(dir);
    expect(hub.requests).to.deep.equal([]);
  });

  it('Python huggingface_hub finds what webprune cached (when it imports)', async function () {
    const python = process.env.WEBPRUNE_PYTHON || 'python3';
    try {
      execFileSync(python, ['-c', 'import huggingface_hub'], { stdio: 'ignore' });
    } catch {
      skipBecause(this, `${python} cannot import huggingface_hub`, 'lacks');
    }
    const dir = await resolveModelSource('acme/pruned', settings());
    const found = execFileSync(python, ['-c', 'import sys; from huggingface_hub import hf_hub_download; print(hf_hub_download("acme/pruned", "model.safetensors", cache_dir=sys.argv[1], local_files_only=True))', cacheDir], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } }).trim();
    expect(found).to.equal(path.join(dir, 'model.safetensors'));
  });

  it('canonical ids, @revision (a tag), and sharded safetensors', async () => {
    expect(fs.existsSync(path.join(await resolveModelSource('tiny-canonical', settings()), 'config.json'))).to.equal(true);
    const v1 = await resolveModelSource('acme/pruned@v1', settings());
    expect(v1).to.equal(path.join(cacheDir, 'models--acme--pruned/snapshots', commitOf('pruned-v1')));
    expect(fs.readFileSync(path.join(cacheDir, 'models--acme--pruned/refs/v1'), 'utf8')).to.equal(commitOf('pruned-v1'));
    const dir = await resolveModelSource('acme/sharded', settings());
    expect(fs.readdirSync(dir).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).to.be.greaterThan(1);
    expect(loadCheckpoint(dir).tensors.size).to.equal(loadCheckpoint(sharded).tensors.size);
  });

  it('404s, missing weights and pickles, private repos and HF_TOKEN', async () => {
    expect((await rejection(resolveModelSource('acme/missing', settings()))).message).to.match(/acme\/missing: no such directory; as a hub id: model acme\/missing: not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404/);
    expect((await rejection(resolveModelSource('acme/pruned@nope', settings()))).message).to.match(/model acme\/pruned@nope: not found/);
    const pickle = await rejection(resolveModelSource('acme/pickles', settings()));
    expect(pickle.message).to.match(/pytorch_model\.bin: PyTorch pickle checkpoints are never loaded/).and.match(/from_pretrained\('acme\/pickles'\)/);
    expect(hub.downloads().some((u) => u.endsWith('.bin'))).to.equal(false);
    expect((await rejection(resolveModelSource('acme/private', settings()))).message).to.match(/access denied .*HTTP 401.*set HF_TOKEN/);
    const dir = await resolveModelSource('acme/private', settings({ token: 'hf_secret' }));
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).to.equal(true);
    expect(hub.requests.filter((r) => r.url.includes('acme/private')).every((r) => r.auth === 'Bearer hf_secret' || r.auth === undefined)).to.equal(true);
    expect(hub.requests.some((r) => r.url.includes('/resolve/') && r.auth === 'Bearer hf_secret')).to.equal(true);
  });

  it('a truncated download fails, leaves nothing half-written, and the next run succeeds', async () => {
    hub.truncateOnce.add('acme/pruned/model.safetensors');
    const err = await rejection(resolveModelSource('acme/pruned', settings()));
    expect(err).to.be.instanceOf(HubError);
    expect(err.message).to.match(/model\.safetensors: download (failed|incomplete)/).and.match(/run the command again/);
    const storage = path.join(cacheDir, 'models--acme--pruned');
    const blobs = fs.readdirSync(path.join(storage, 'blobs'));
    expect(blobs.some((f) => f.includes('incomplete'))).to.equal(false);
    expect(blobs).to.not.include(sha256(fs.readFileSync(path.join(src, 'model.safetensors'))));
    expect(fs.existsSync(path.join(storage, 'snapshots', commitOf('pruned'), 'model.safetensors'))).to.equal(false);
    const dir = await resolveModelSource('acme/pruned', settings());
    expect(loadCheckpoint(dir).tensors.size).to.be.greaterThan(0);
  });

  it('offline with a cold cache, and an unreachable hub with a warm one', async () => {
    expect((await rejection(resolveModelSource('acme/pruned', settings({ offline: true })))).message).to.match(/HF_HUB_OFFLINE is set, and it is not in the hub cache/);
    const dir = await resolveModelSource('acme/pruned', settings());
    const dead = `http://127.0.0.1:${await closedPort()}`;
    expect(await resolveModelSource('acme/pruned', settings({ endpoint: dead }))).to.equal(dir);
    expect(logs.join('\n')).to.match(/cannot be reached .*using the cached model acme\/pruned/);
    expect((await rejection(resolveModelSource('acme/other', settings({ endpoint: dead })))).message).to.match(/cannot be reached.*not in the hub cache/);
  });

  it('reads HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE and HF_HUB_OFFLINE from the environment', async () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { HF_ENDPOINT: `${hub.endpoint}/`, HF_TOKEN: 'hf_secret', HF_HUB_CACHE: cacheDir, HF_HUB_OFFLINE: '0' });
      const s = hubSettings();
      expect(s).to.deep.include({ endpoint: hub.endpoint, token: 'hf_secret', cacheDir, offline: false });
      const dir = await resolveModelSource('acme/private', { onProgress: () => {} });
      expect(dir.startsWith(cacheDir)).to.equal(true);
      process.env.HF_HUB_OFFLINE = 'YES';
      hub.requests.length = 0;
      expect(await resolveModelSource('acme/private', { onProgress: () => {} })).to.equal(dir);
      expect(hub.requests).to.deep.equal([]);
      process.env.HF_TOKEN = 'not-a-token';
      process.env.HF_HUB_OFFLINE = '';
      expect((await rejection(resolveModelSource('acme/pruned', {}))).message).to.match(/HF_TOKEN must be a Hugging Face access token/);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('experiments take a hub id: the dense config behind a cell\'s sparsity (denseConfigOf, from the environment)', async () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir, HF_TOKEN: '', HF_HUB_OFFLINE: '0' });
      const dense = testConfig('dense');
      expect(parameterCount(await denseConfigOf('acme/sharded')).total).to.equal(parameterCount(dense).total);
      // A pruned repository: the dense model it was pruned from (every layer full).
      const fromPruned = await denseConfigOf('acme/pruned');
      expect(fromPruned.layers.every((l) => l.numHeads === fromPruned.numHeads && l.intermediateSize === fromPruned.intermediateSize)).to.equal(true);
      expect(fromPruned.numHeads).to.equal(testConfig('pruned').numHeads);
      expect((await rejection(denseConfigOf('acme/missing'))).message).to.match(/acme\/missing/);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('local directories and config names pass through; other specs are refused', async () => {
    expect(await resolveModelSource(src, settings())).to.equal(src);
    expect(await resolveModelSource('tiny', settings())).to.equal('tiny');
    expect((await rejection(resolveModelSource('./no/such/dir', settings()))).message).to.match(/no such directory, not a config name/);
    expect(hub.requests).to.deep.equal([]);
  });

  it('the CLI takes a hub id: webprune export --model org/name (HF_ENDPOINT, HF_HUB_CACHE)', async () => {
    const out = path.join(tmp, 'cli-export');
    const root = path.resolve(import.meta.dirname, '../..');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', './scripts/ts-register.mjs', 'cli/webprune.ts', 'export', '--model', 'acme/pruned', '--format', 'onnx', '--out', out],
        { cwd: root, env: { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir, HF_TOKEN: '' } },
        (e, so, se) => (e ? reject(new Error(`${e.message}\n${se}`)) : resolve(so)),
      ),
    );
    expect(stdout).to.match(/wrote .*onnx\/model\.onnx/);
    expect(fs.readFileSync(path.join(out, 'README.md'), 'utf8')).to.include('acme/pruned');
    expect(fs.existsSync(path.join(cacheDir, 'models--acme--pruned/refs/main'))).to.equal(true);
  });
});

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const net = await import('node:net');
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
