import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { defaultDataDir } from '../../data/paths.ts';
import { type Example, loadSplit } from '../../data/tasks.ts';
import { GLUE_DATASET, ensureTaskData, readGlueParquet } from '../../hub/glue.ts';
import type { HubSettings } from '../../hub/settings.ts';
import { testConfig, writeTestModel } from '../export/fixtures.ts';
import { FakeHub, commitOf } from './fake_hub.ts';

const shared = defaultDataDir();

/** A GLUE split as the hub's parquet: sentence1, sentence2, label (int64 / float32, −1 unlabeled), idx. */
function toParquet(examples: readonly Example[], regression: boolean): Uint8Array {
  const buf = parquetWriteBuffer({
    columnData: [
      { name: 'sentence1', data: examples.map((e) => e.textA), type: 'STRING' },
      { name: 'sentence2', data: examples.map((e) => e.textB!), type: 'STRING' },
      regression
        ? { name: 'label', data: Float32Array.from(examples, (e) => (Number.isNaN(e.label) ? -1 : e.label)), type: 'FLOAT' }
        : { name: 'label', data: BigInt64Array.from(examples, (e) => BigInt(Number.isNaN(e.label) ? -1 : e.label)), type: 'INT64' },
      { name: 'idx', data: Int32Array.from(examples, (_, i) => i), type: 'INT32' },
    ],
  });
  return new Uint8Array(buf);
}

describe('hub: GLUE tasks from nyu-mll/glue parquet when the data root lacks them @data @slow', function () {
  this.timeout(120000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-glue-'));
  const hub = new FakeHub();
  const emptyRoot = path.join(tmp, 'empty-data');
  const saved = process.env.WEBPRUNE_CACHE;
  let logs: string[];
  const settings = (extra: Partial<HubSettings> = {}): Partial<HubSettings> => ({ endpoint: hub.endpoint, cacheDir: path.join(tmp, 'hf'), token: undefined, offline: false, onProgress: () => {}, log: (m) => logs.push(m), ...extra });

  before(async () => {
    process.env.WEBPRUNE_CACHE = path.join(tmp, 'webprune-cache');
    fs.mkdirSync(emptyRoot);
    // The fixtures: parquet files written from the shared TSVs, in the dataset's layout.
    const files = new Map<string, Uint8Array>([['README.md', new TextEncoder().encode('# GLUE\n')]]);
    for (const [task, config] of [['mrpc', 'mrpc'], ['stsb', 'stsb']] as const) {
      for (const [ours, theirs] of [['train', 'train'], ['dev', 'validation'], ['test', 'test']] as const) {
        files.set(`${config}/${theirs}-00000-of-00001.parquet`, toParquet(loadSplit(task, shared, ours).examples, task === 'stsb'));
      }
    }
    files.set('cola/train-00000-of-00001.parquet', new Uint8Array(8)); // other configs are not fetched
    hub.add({ type: 'dataset', name: GLUE_DATASET, commit: commitOf('glue'), files });
    const model = path.join(tmp, 'model');
    writeTestModel(model, testConfig('dense'), 4);
    hub.add({ type: 'model', name: 'acme/bert-test', commit: commitOf('bert-test'), files: new Map(fs.readdirSync(model).map((f) => [f, new Uint8Array(fs.readFileSync(path.join(model, f)))])) });
    await hub.start();
  });
  beforeEach(() => {
    logs = [];
    hub.requests.length = 0;
  });
  after(async () => {
    await hub.stop();
    if (saved === undefined) delete process.env.WEBPRUNE_CACHE;
    else process.env.WEBPRUNE_CACHE = saved;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a data root that has the task is used as it is, without the hub', async () => {
    expect(await ensureTaskData('mrpc', shared, settings())).to.equal(shared);
    expect(await ensureTaskData('sciie', emptyRoot, settings())).to.equal(emptyRoot);
    expect(hub.requests).to.deep.equal([]);
  });

  for (const task of ['mrpc', 'stsb'] as const) {
    it(`${task}: read from the hub's parquet, every split equals the shared TSVs`, async () => {
      const root = await ensureTaskData(task, emptyRoot, settings());
      expect(root.startsWith(path.join(tmp, 'webprune-cache/hub-data/roots/'))).to.equal(true);
      expect(fs.realpathSync(path.join(root, task === 'mrpc' ? 'glue/MRPC' : 'glue/STS-B'))).to.equal(path.join(tmp, 'webprune-cache/hub-data/nyu-mll--glue', commitOf('glue'), task === 'mrpc' ? 'glue/MRPC' : 'glue/STS-B'));
      expect(logs.join('\n')).to.match(new RegExp(`task ${task}: .* using the hub dataset nyu-mll/glue`));
      expect(hub.downloads().every((u) => u.includes(`/${task}/`))).to.equal(true);
      for (const split of ['train', 'dev', 'test'] as const) {
        const ours = loadSplit(task, root, split);
        const want = loadSplit(task, shared, split);
        expect(ours.labeled, split).to.equal(want.labeled);
        expect(ours.examples.length, split).to.equal(want.examples.length);
        ours.examples.forEach((e, i) => {
          const w = want.examples[i]!;
          expect([e.textA, e.textB], `${split} ${i}`).to.deep.equal([w.textA, w.textB]);
          // STS-B scores went through float32 on the hub.
          if (want.labeled) expect(e.label, `${split} ${i}`).to.equal(task === 'stsb' ? Math.fround(w.label) : w.label);
        });
      }
      // Warm: offline, no request at all.
      hub.requests.length = 0;
      expect(await ensureTaskData(task, emptyRoot, settings({ offline: true }))).to.equal(root);
      expect(hub.requests).to.deep.equal([]);
    });
  }

  it('the root given to jobs is an overlay: the data root\'s other tasks and vocabulary stay, missing GLUE tasks are linked in', async () => {
    // A data root with SciERC and the vocabulary, and GLUE's MRPC but not STS-B.
    const partial = path.join(tmp, 'partial');
    fs.mkdirSync(path.join(partial, 'glue'), { recursive: true });
    for (const d of ['scibert', 'vocab']) fs.symlinkSync(path.join(shared, d), path.join(partial, d));
    fs.symlinkSync(path.join(shared, 'glue/MRPC'), path.join(partial, 'glue/MRPC'));
    expect(await ensureTaskData(['sciie', 'mrpc', undefined], partial, settings())).to.equal(partial);
    const root = await ensureTaskData(['sciie', 'stsb'], partial, settings());
    expect(root).to.not.equal(partial);
    expect(loadSplit('sciie', root, 'dev').examples.length).to.equal(loadSplit('sciie', shared, 'dev').examples.length);
    expect(loadSplit('mrpc', root, 'dev').file).to.equal(path.join(root, 'glue/MRPC/dev.tsv'));
    expect(fs.realpathSync(path.join(root, 'glue/MRPC'))).to.equal(fs.realpathSync(path.join(shared, 'glue/MRPC')));
    expect(loadSplit('stsb', root, 'dev').examples.length).to.equal(1500);
    expect(fs.existsSync(path.join(root, 'vocab/bert-base-uncased/vocab.txt'))).to.equal(true);
  });

  it('the CLI: webprune finetune --model org/name --task mrpc with a data root that lacks MRPC', async () => {
    const out = path.join(tmp, 'ft');
    const root = path.resolve(import.meta.dirname, '../..');
    const env = { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: path.join(tmp, 'cli-hf'), WEBPRUNE_CACHE: path.join(tmp, 'cli-webprune'), HF_TOKEN: '' };
    const args = ['--import', './scripts/ts-register.mjs', 'cli/webprune.ts', 'finetune', '--model', 'acme/bert-test', '--task', 'mrpc', '--data-dir', emptyRoot, '--steps', '2', '--batch-size', '4', '--max-train', '8', '--max-eval', '8', '--max-seq-length', '32', '--out', out];
    const stderr = await new Promise<string>((resolve, reject) => execFile(process.execPath, args, { cwd: root, env }, (e, _so, se) => (e ? reject(new Error(`${e.message}\n${se}`)) : resolve(se))));
    expect(stderr).to.match(/task mrpc: .* using the hub dataset nyu-mll\/glue/);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(results.task).to.equal('mrpc');
    expect(results.model).to.equal('acme/bert-test');
    expect(results.best.accuracy).to.be.within(0, 1);
  });

  it('offline with nothing cached says so', async () => {
    const err = await ensureTaskData('mrpc', emptyRoot, settings({ offline: true, cacheDir: path.join(tmp, 'cold') })).catch((e: Error) => e);
    expect((err as Error).message).to.match(/dataset nyu-mll\/glue: HF_HUB_OFFLINE is set, and it is not in the hub cache/);
  });

  it('reads the parquet columns and names a file that is not GLUE', async () => {
    const file = path.join(tmp, 'bad.parquet');
    fs.writeFileSync(file, new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'text', data: ['a'], type: 'STRING' }] })));
    expect((await readGlueParquet(file).catch((e: Error) => e) as Error).message).to.match(/bad\.parquet: row 0 lacks/);
  });
});
