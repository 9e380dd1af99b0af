/**
 * Fuzzing of every loader with seeded mutations of valid files (fast-check): each mutated file must
 * load into valid, finite data or be refused by an Error whose message names the file — never a
 * crash (a TypeError from deep inside), a hang, NaN data, or a message that echoes the input whole.
 *
 * WEBPRUNE_TEST_SEED pins the seed; WEBPRUNE_FUZZ_SCALE multiplies the number of cases (e.g. 20 for
 * a deep run: `WEBPRUNE_FUZZ_SCALE=20 npx mocha test/fuzz/loaders.test.ts`).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { getTask, loadSplit } from '../../data/tasks.ts';
import { SPECIAL_TOKENS, bertTokenizerJson, loadTokenizer } from '../../data/tokenizer.ts';
import { HostRandom } from '../../engine/random.ts';
import { type BertConfig, configToJson, namedConfig, readConfig, validateConfig, withLabels } from '../../models/config.ts';
import { expectedTensors, loadCheckpoint, saveCheckpoint } from '../../models/io/checkpoint.ts';
import { f32ToBf16Array, f32ToF16Array } from '../../models/io/half.ts';
import { numel, readSafetensors } from '../../models/io/safetensors.ts';
import { findCheckpoints, restoreTensors, writeCheckpoint } from '../../training/run/checkpoint.ts';
import { freshSeed, useTestEngine } from '../helpers.ts';
import { type ByteMutation, byteMutations, jsonMutations, textBoundaries } from './mutations.ts';

const SCALE = Number(process.env.WEBPRUNE_FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

/** Longest error message accepted: input echoed in messages is capped at 200 characters. */
const MAX_MESSAGE = 1200;

let root: string;
let counter = 0;
before(() => {
  // Thousands of small files: a memory file system makes each case ~50× cheaper than a disk.
  try {
    root = fs.mkdtempSync(path.join('/dev/shm', 'webprune-fuzz-'));
  } catch {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-fuzz-'));
  }
});
after(() => fs.rmSync(root, { recursive: true, force: true }));
const freshDir = () => {
  const d = path.join(root, `case-${counter++}`);
  fs.mkdirSync(d);
  return d;
};

/** Cases loaded and refused by the current property: both must occur, or the mutations are too weak (or too strong). */
const outcomes = { loaded: 0, refused: 0 };

function expectBothOutcomes(what: string): void {
  const total = outcomes.loaded + outcomes.refused;
  expect(outcomes.loaded, `${what}: ${outcomes.loaded} of ${total} mutated files loaded`).to.be.at.least(0.02 * total);
  expect(outcomes.refused, `${what}: ${outcomes.refused} of ${total} mutated files refused`).to.be.at.least(0.2 * total);
  outcomes.loaded = outcomes.refused = 0;
}

/**
 * Runs `load`; a thrown error must be an Error whose message names `where` (a file or directory)
 * and is not huge. Returns the loaded value, or undefined when it was refused.
 */
function loadOrRefuse<T>(where: string, load: () => T): T | undefined {
  try {
    const value = load();
    outcomes.loaded++;
    return value;
  } catch (err) {
    expectNamed(err, where);
    outcomes.refused++;
    return undefined;
  }
}

/** Passes when `err` is an Error whose message names `where` and is not huge; rethrows a report otherwise. */
function expectNamed(err: unknown, where: string): void {
  if (!(err instanceof Error)) throw new Error(`threw a non-Error: ${String(err)}`);
  if (!err.message.includes(where)) throw new Error(`error does not name ${where}: ${err.name}: ${err.message.slice(0, 500)}\n${err.stack}`);
  if (err.message.length > MAX_MESSAGE) throw new Error(`error message of ${err.message.length} characters: ${err.message.slice(0, 300)}…`);
}

/** Runs a property with the suite's seed; fast-check's report names the seed and shrunk case. */
function check<T>(what: string, arb: fc.Arbitrary<T>, numRuns: number, predicate: (v: T) => void): void {
  outcomes.loaded = outcomes.refused = 0;
  const timed = (v: T) => {
    const t0 = performance.now();
    predicate(v);
    const ms = performance.now() - t0;
    // A loader that takes seconds on a file of a few kilobytes is a hang in the making.
    if (ms > CASE_LIMIT_MS) throw new Error(`one case took ${(ms / 1000).toFixed(1)} s (limit ${CASE_LIMIT_MS / 1000} s)`);
  };
  fc.assert(fc.property(arb, timed), { seed: freshSeed(), numRuns });
  expectBothOutcomes(what);
}

/** Longest time one case may take (files are a few kilobytes; a case normally takes under a millisecond). */
const CASE_LIMIT_MS = 3000;

const expectFinite = (data: ArrayLike<number>, what: string) => {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) throw new Error(`${what}: element ${i} is ${data[i]} but the loader returned it`);
};

// ---------------------------------------------------------------------------------------------
// safetensors

interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** A safetensors file from raw tensors (contiguous), with an optional header object replacing the computed one. */
function buildSafetensors(tensors: RawTensor[], header?: unknown): Uint8Array {
  const h: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    h[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  return assemble(Buffer.from(JSON.stringify(header ?? h)), tensors);
}

function assemble(headerBytes: Uint8Array, tensors: RawTensor[]): Uint8Array {
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  const data = Buffer.concat(tensors.map((t) => t.bytes));
  const out = new Uint8Array(8 + padded + data.length).fill(0x20, 8, 8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + padded);
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

function baseTensors(): RawTensor[] {
  const rng = new HostRandom(11);
  const f = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return [
    { name: 'w', dtype: 'F32', shape: [3, 4], bytes: bytesOf(f(12)) },
    { name: 'h', dtype: 'F16', shape: [5], bytes: bytesOf(f32ToF16Array(f(5))) },
    { name: 'b', dtype: 'BF16', shape: [2, 2], bytes: bytesOf(f32ToBf16Array(f(4))) },
    { name: 'd', dtype: 'F64', shape: [3], bytes: bytesOf(Float64Array.from(f(3))) },
    { name: 'i', dtype: 'I64', shape: [2], bytes: bytesOf(BigInt64Array.from([5n, -7n])) },
    { name: 'm', dtype: 'U8', shape: [4], bytes: Uint8Array.from([0, 1, 255, 3]) },
    { name: 'e', dtype: 'F32', shape: [0], bytes: new Uint8Array(0) },
    { name: 's', dtype: 'F32', shape: [], bytes: bytesOf(f(1)) },
  ];
}

/** Byte offsets of every structural boundary of a safetensors file: the length field, header punctuation, tensor spans. */
function safetensorsBoundaries(file: Uint8Array): number[] {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const header = Buffer.from(file.subarray(8, 8 + n)).toString('utf8');
  const out = [1, 2, 3, 4, 5, 6, 7, 8, ...textBoundaries(header).map((b) => 8 + b), 8 + n];
  try {
    for (const [k, v] of Object.entries(JSON.parse(header) as Record<string, { data_offsets?: number[] }>)) {
      if (k !== '__metadata__' && v.data_offsets) out.push(8 + n + v.data_offsets[0]!, 8 + n + v.data_offsets[1]!);
    }
  } catch {
    // a mutated header: no spans
  }
  return out;
}

/** Header mutations of an existing safetensors file (its data buffer kept as it is). */
function headerMutations(file: Uint8Array): fc.Arbitrary<ByteMutation> {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(file.subarray(8, 8 + n)).toString('utf8')) as unknown;
  const data: RawTensor = { name: 'data', dtype: 'U8', shape: [], bytes: file.slice(8 + n) };
  return jsonMutations(header).map((m) => ({ what: `header: ${m.what}`, apply: () => assemble(m.bytes, [data]) }));
}

/** Byte and header mutations of an existing safetensors file. */
function fileMutations(file: Uint8Array): fc.Arbitrary<ByteMutation> {
  return fc.oneof(byteMutations(file.length, safetensorsBoundaries(file)), headerMutations(file));
}

/** A value mutation: one element of a float tensor set to a non-finite or extreme value. */
function valueMutation(tensors: RawTensor[]): fc.Arbitrary<ByteMutation> {
  const floats = tensors.filter((t) => ['F32', 'F16', 'BF16', 'F64'].includes(t.dtype) && t.bytes.length > 0);
  return fc.tuple(fc.constantFrom(...floats.map((t) => t.name)), fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity, 1e39, -1e39, 1e300, 70000, 3.4e38, 5e-324, -0)).map(([name, k, v]) => ({
    what: `${name}[${k}] = ${v}`,
    apply: () => {
      const ts = tensors.map((t) => ({ ...t, bytes: t.bytes.slice() }));
      const t = ts.find((x) => x.name === name)!;
      const count = numel(t.shape);
      const i = k % count;
      if (t.dtype === 'F32') new DataView(t.bytes.buffer).setFloat32(4 * i, v, true);
      else if (t.dtype === 'F64') new DataView(t.bytes.buffer).setFloat64(8 * i, v, true);
      else new DataView(t.bytes.buffer).setUint16(2 * i, (t.dtype === 'F16' ? f32ToF16Array : f32ToBf16Array)(Float32Array.of(v))[0]!, true);
      return buildSafetensors(ts);
    },
  }));
}

/** Mutations of a safetensors file: bytes, header JSON (fields, literals), the length field, element values. */
function safetensorsMutations(tensors: RawTensor[]): fc.Arbitrary<ByteMutation> {
  const valid = buildSafetensors(tensors);
  const n = Number(new DataView(valid.buffer).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(valid.subarray(8, 8 + n)).toString('utf8')) as unknown;
  const lengthField = fc.constantFrom(0n, 1n, 7n, BigInt(n - 1), BigInt(n + 1), BigInt(valid.length), 2n ** 31n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n).map((v) => ({
    what: `header length ${v}`,
    apply: (b: Uint8Array) => {
      const out = Uint8Array.from(b);
      new DataView(out.buffer).setBigUint64(0, v, true);
      return out;
    },
  }));
  return fc.oneof(
    { weight: 3, arbitrary: byteMutations(valid.length, safetensorsBoundaries(valid)) },
    { weight: 4, arbitrary: jsonMutations(header).map((m) => ({ what: `header: ${m.what}`, apply: () => assemble(m.bytes, tensors) })) },
    { weight: 1, arbitrary: lengthField },
    { weight: 2, arbitrary: valueMutation(tensors) },
  );
}

describe('fuzz: loaders refuse malformed files by name, or load valid finite data @fuzz', () => {
  it('safetensors files', () => {
    const tensors = baseTensors();
    const valid = buildSafetensors(tensors);
    check('safetensors', safetensorsMutations(tensors), runs(3000), (m) => {
      const file = path.join(root, `st-${counter++}.safetensors`);
      fs.writeFileSync(file, m.apply(valid));
      const loaded = loadOrRefuse(file, () => readSafetensors(file));
      fs.rmSync(file);
      if (!loaded) return;
      for (const [name, t] of loaded.tensors) {
        expect(t.data.length, `${m.what}: ${name} length`).to.equal(numel(t.shape));
        if (t.data instanceof Float32Array) expectFinite(t.data, `${m.what}: ${name}`);
      }
    });
  });

  it('checkpoint directories: config.json and model.safetensors', () => {
    const config = smallConfig();
    const dir = freshDir();
    const rng = new HostRandom(3);
    saveCheckpoint(dir, config, new Map([...expectedTensors(config, 'classification')].map(([name, shape]) => [name, { shape, data: Float32Array.from({ length: numel(shape) }, () => 0.1 * rng.normal()) }])));
    const configBytes = fs.readFileSync(path.join(dir, 'config.json'));
    const modelBytes = fs.readFileSync(path.join(dir, 'model.safetensors'));
    const configDoc = JSON.parse(configBytes.toString('utf8')) as unknown;
    const mutation = fc.oneof(
      jsonMutations(configDoc).map((m) => ({ what: `config.json: ${m.what}`, file: 'config.json', bytes: m.bytes })),
      fileMutations(modelBytes).map((m) => ({ what: `model.safetensors: ${m.what}`, file: 'model.safetensors', bytes: m.apply(modelBytes) })),
    );
    check('checkpoint', mutation, runs(1000), (m) => {
      const d = freshDir();
      fs.writeFileSync(path.join(d, 'config.json'), m.file === 'config.json' ? m.bytes : configBytes);
      fs.writeFileSync(path.join(d, 'model.safetensors'), m.file === 'model.safetensors' ? m.bytes : modelBytes);
      const ckpt = loadOrRefuse(d, () => loadCheckpoint(d));
      if (ckpt) {
        const want = expectedTensors(ckpt.config, ckpt.head);
        for (const [name, t] of ckpt.tensors) {
          expect(t.shape, `${m.what}: ${name}`).to.deep.equal(want.get(name) ?? t.shape);
          expectFinite(t.data, `${m.what}: ${name}`);
        }
      }
      fs.rmSync(d, { recursive: true });
    });
  });

  it('config.json', () => {
    const base = configToJson(withLabels({ ...smallConfig(), layers: [{ numHeads: 2, intermediateSize: 16 }, { numHeads: 0, intermediateSize: 8 }] }, 3, ['a', 'b', 'c']));
    const dir = freshDir();
    const file = path.join(dir, 'config.json');
    check('config.json', jsonMutations(base), runs(3000), (m) => {
      fs.writeFileSync(file, m.bytes);
      const config = loadOrRefuse(file, () => readConfig(dir));
      if (!config) return;
      validateConfig(config, `${m.what}`);
      for (const [name, shape] of expectedTensors(config, 'classification')) {
        for (const d of shape) if (!(Number.isSafeInteger(d) && d >= 0)) throw new Error(`${m.what}: ${name} has dimension ${d}`);
      }
      for (const v of [config.layerNormEps, config.hiddenDropout, config.attentionDropout, config.initializerRange]) expectFinite([v], m.what);
    });
  });

  it('tokenizer files: vocab.txt and tokenizer.json', () => {
    const vocab = [...SPECIAL_TOKENS, 'the', 'cat', 'sat', 'on', 'mat', '##s', '##at', 'a', 'c', 'm', 'o', 'n', 's', 't', 'h', 'e', '.', ',', 'é', '中'];
    const vocabText = `${vocab.join('\n')}\n`;
    const vocabBytes = Buffer.from(vocabText, 'utf8');
    const json = bertTokenizerJson(vocab);
    const lines = fc.tuple(fc.nat(vocab.length - 1), fc.constantFrom('', '[UNK]', 'the', ' ', '\r', 'x'.repeat(100_000), '##', '\u0000')).map(([i, line]) => {
      const l = [...vocab];
      l[i] = line;
      return { what: `vocab line ${i + 1} = ${JSON.stringify(line.slice(0, 20))}`, bytes: Uint8Array.from(Buffer.from(`${l.join('\n')}\n`)) };
    });
    const mutation = fc.oneof(
      byteMutations(vocabBytes.length, textBoundaries(vocabText)).map((m) => ({ what: `vocab.txt: ${m.what}`, file: 'vocab.txt', bytes: m.apply(vocabBytes) })),
      lines.map((m) => ({ ...m, file: 'vocab.txt' })),
      jsonMutations(json).map((m) => ({ what: `tokenizer.json: ${m.what}`, file: 'tokenizer.json', bytes: m.bytes })),
    );
    check('tokenizer', mutation, runs(1000), (m) => {
      const dir = freshDir();
      fs.writeFileSync(path.join(dir, m.file), m.bytes);
      const tok = loadOrRefuse(path.join(dir, m.file), () => loadTokenizer(dir));
      if (tok) {
        const enc = tok.encodePair('The cats sat on the mat, é 中!', 'a cat', 24);
        for (const id of enc.inputIds) if (!(Number.isInteger(id) && id >= 0 && id < tok.vocabSize)) throw new Error(`${m.what}: token id ${id} outside [0, ${tok.vocabSize})`);
        for (const id of tok.specialIds) if (!(Number.isInteger(id) && id >= 0 && id < tok.vocabSize)) throw new Error(`${m.what}: special id ${id}`);
      }
      fs.rmSync(dir, { recursive: true });
    });
  });

  it('task files: TSV (MRPC, STS-B, generic) and JSONL (SciERC, generic regression)', () => {
    const mrpc = `\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA cat sat.\tThe cat sat.\n0\t3\t4\tDogs bark "loudly\tNo\n1\t5\t6\tx\ty\n`;
    const stsb = `index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tg\tf\t2012\t1\tnone\tnone\tA\tB\t3.8\n1\tg\tf\t2012\t2\tnone\tnone\tC\tD\t0\n`;
    const generic = `sentence1\tlabel\textra\nfine\tpos\t1\nbad\tneg\t2\nso so\tneutral\t3\n`;
    const sciie = ['{"text": "a [[ b ]] << c >>", "label": "USED-FOR", "metadata": [1]}', '{"text": "d", "label": "COMPARE"}', '', '{"text": "é 中", "label": "PART-OF"}'].join('\n');
    const regression = ['{"text": "a", "label": 0.5}', '{"text": "b", "text_b": "c", "label": "-3e2"}', '{"text": "d", "label": 7}'].join('\n');
    const sources = [
      { name: 'mrpc', rel: 'glue/MRPC/train.tsv', text: mrpc },
      { name: 'stsb', rel: 'glue/STS-B/train.tsv', text: stsb },
      { name: 'tsv', rel: 'gen/train.tsv', text: generic },
      { name: 'sciie', rel: 'scibert/sciie/train.jsonl', text: sciie },
      { name: 'regression:jsonl', rel: 'gen/train.jsonl', text: regression },
    ];
    const cell = fc.constantFrom('', ' ', '1', '0', '2', '-1', '1.0', '5.5', '1e400', 'NaN', 'Infinity', '"', '\\t', 'pos', 'x'.repeat(50_000), '\u0000', '\r', '\u2028');
    const mutation = fc.integer({ min: 0, max: sources.length - 1 }).chain((k) => {
      const src = sources[k]!;
      const bytes = Buffer.from(src.text, 'utf8');
      const lines = src.text.split('\n');
      const jsonl = src.rel.endsWith('.jsonl');
      const cellEdit = fc.tuple(fc.nat(lines.length - 1), fc.nat(12), cell).map(([li, ci, v]) => {
        const l = [...lines];
        if (jsonl) {
          let doc: Record<string, unknown> = {};
          try {
            doc = JSON.parse(l[li]!) as Record<string, unknown>;
          } catch {
            // blank line
          }
          const key = ['text', 'label', 'text_b', 'metadata'][ci % 4]!;
          doc[key] = ci >= 8 ? Number(v) : ci >= 4 ? [v] : v;
          l[li] = JSON.stringify(doc);
        } else {
          const cells = l[li]!.split('\t');
          cells[ci % Math.max(1, cells.length)] = v;
          l[li] = cells.join('\t');
        }
        return { what: `line ${li + 1} cell ${ci} = ${JSON.stringify(v.slice(0, 12))}`, bytes: Uint8Array.from(Buffer.from(l.join('\n'))) };
      });
      return fc.oneof(byteMutations(bytes.length, textBoundaries(src.text)).map((m) => ({ what: m.what, bytes: m.apply(bytes) })), cellEdit).map((m) => ({ ...m, src }));
    });
    check('task files', mutation, runs(3000), (m) => {
      const dir = freshDir();
      const file = path.join(dir, m.src.rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, m.bytes);
      const generic = m.src.name === 'tsv' || m.src.name.startsWith('regression');
      const spec = generic ? `${m.src.name}:${path.join(dir, 'gen')}` : m.src.name;
      for (const skipMalformed of [false, true]) {
        const loaded = loadOrRefuse(file, () => loadSplit(getTask(spec), dir, 'train', { skipMalformed }));
        if (!loaded) continue;
        const task = getTask(spec);
        expect(loaded.examples.length, m.what).to.be.greaterThan(0);
        for (const ex of loaded.examples) {
          if (typeof ex.textA !== 'string' || (ex.textB !== undefined && typeof ex.textB !== 'string')) throw new Error(`${m.what}: text is not a string`);
          if (task.isRegression) expectFinite([ex.label], m.what);
          else if (!(Number.isInteger(ex.label) && ex.label >= 0 && ex.label < task.numLabels)) throw new Error(`${m.what}: label ${ex.label} outside [0, ${task.numLabels})`);
        }
      }
      fs.rmSync(dir, { recursive: true });
    });
  });
});

function smallConfig(): BertConfig {
  const base = withLabels(namedConfig('tiny'), 2);
  return { ...base, vocabSize: 30, hiddenSize: 8, numHeads: 2, headSize: 4, intermediateSize: 16, numLayers: 2, layers: [0, 1].map(() => ({ numHeads: 2, intermediateSize: 16 })), maxPositionEmbeddings: 12 };
}

describe('fuzz: run-state checkpoints @fuzz @gpu', () => {
  before(useTestEngine);

  it('restore valid finite tensors, or are skipped as incomplete or refused by name', async () => {
    const shapes: Array<[string, number[]]> = [['w', [3, 4]], ['w.exp_avg', [3, 4]], ['b', [5]], ['s', []]];
    const rng = new HostRandom(5);
    const tensors = new Map(shapes.map(([n, s]) => [n, E.tensor(Float32Array.from({ length: numel(s) }, () => rng.normal()), s, 'f32', n)] as const));
    const written = await writeCheckpoint(path.join(freshDir(), 'ckpt'), 7, tensors, { mix: { epoch: 0, cursor: 3, order: [2, 0, 1] }, optimizerStep: 7, best: null });
    const step = path.basename(written);
    const tensorBytes = fs.readFileSync(path.join(written, 'tensors.safetensors'));
    const stateBytes = fs.readFileSync(path.join(written, 'state.json'));
    const mutation = fc.oneof(
      fileMutations(tensorBytes).map((m) => ({ what: `tensors: ${m.what}`, file: 'tensors.safetensors', bytes: m.apply(tensorBytes) })),
      jsonMutations(JSON.parse(stateBytes.toString('utf8'))).map((m) => ({ what: `state.json: ${m.what}`, file: 'state.json', bytes: m.bytes })),
    );
    const seed = freshSeed();
    const cases = fc.sample(mutation, { numRuns: runs(400), seed });
    outcomes.loaded = outcomes.refused = 0;
    for (const m of cases) {
      const root = freshDir();
      const dir = path.join(root, step);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'tensors.safetensors'), m.file === 'tensors.safetensors' ? m.bytes : tensorBytes);
      fs.writeFileSync(path.join(dir, 'state.json'), m.file === 'state.json' ? m.bytes : stateBytes);
      const ctx = `run state seed=${seed} ${m.what}`;
      try {
        // A damaged checkpoint is either skipped as incomplete (state.json records the tensor
        // file's size), or found and then restored to finite values or refused by name.
        const latest = findCheckpoints(root).latest;
        if (latest === null) outcomes.refused++;
        else {
          try {
            restoreTensors(latest.dir, tensors);
            outcomes.loaded++;
            for (const [name, t] of tensors) expectFinite(await t.read(), name);
          } catch (err) {
            expectNamed(err, latest.dir);
            outcomes.refused++;
          }
        }
      } catch (err) {
        throw new Error(`${ctx}: ${(err as Error).message}`);
      }
      fs.rmSync(root, { recursive: true });
    }
    expectBothOutcomes(`run state seed=${seed}`);
    for (const t of tensors.values()) t.dispose();
  });
});
