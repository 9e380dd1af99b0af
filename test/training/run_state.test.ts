import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { SafetensorsError, writeSafetensors } from '../../models/io/safetensors.ts';
import { NonFiniteStateError, findCheckpoints, restoreTensors, writeCheckpoint } from '../../training/run/checkpoint.ts';
import { useTestEngine } from '../helpers.ts';

describe('run-state checkpoints: non-finite and wrongly typed values @gpu', () => {
  before(useTestEngine);
  let root: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-runstate-'));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('are never written from non-finite tensors; the previous checkpoint stays', async () => {
    const dir = path.join(root, 'save');
    const w = E.tensor([1, 2, 3, 4], [2, 2], 'f32', 'w');
    await writeCheckpoint(dir, 1, new Map([['w', w]]), { ok: true });
    const bad = E.tensor([1, 2, NaN, 4], [2, 2], 'f32', 'w');
    let error: unknown;
    await writeCheckpoint(dir, 2, new Map([['w', bad]]), { ok: false }).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(NonFiniteStateError);
    expect((error as Error).message).to.equal('w[2] is NaN');
    expect(findCheckpoints<{ ok: boolean }>(dir).latest).to.deep.include({ step: 1, state: { ok: true } });
    w.dispose();
    bad.dispose();
  });

  it('refuse to restore NaN/Infinity or an integer tensor, naming file, tensor and element, before overwriting anything', async () => {
    const dir = path.join(root, 'load');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'tensors.safetensors');
    const a = E.tensor([7, 7], [2], 'f32', 'a');
    const t = E.zeros([3], 'f32', 'w.exp_avg_sq');
    writeSafetensors(file, [{ name: 'a', shape: [2], data: Float32Array.from([1, 2]) }, { name: 'w.exp_avg_sq', shape: [3], data: Float32Array.from([0, Infinity, 1]) }], { allowNonFinite: true });
    expect(() => restoreTensors(dir, new Map([['a', a], ['w.exp_avg_sq', t]]))).to.throw(SafetensorsError, `${file}: tensor "w.exp_avg_sq": element 1 is +Infinity`);
    expect(Array.from(await a.read()), 'nothing overwritten').to.deep.equal([7, 7]);
    // An I64 tensor of the right shape was uploaded as raw bytes into the float buffer.
    const header = JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, 'w.exp_avg_sq': { dtype: 'I64', shape: [3], data_offsets: [8, 32] } });
    const padded = Math.ceil(header.length / 8) * 8;
    const bytes = Buffer.alloc(8 + padded + 32, 0x20);
    bytes.writeBigUInt64LE(BigInt(padded), 0);
    bytes.write(header, 8);
    bytes.fill(0, 8 + padded);
    fs.writeFileSync(file, bytes);
    expect(() => restoreTensors(dir, new Map([['a', a], ['w.exp_avg_sq', t]]))).to.throw(`${file}: tensor w.exp_avg_sq is I64`);
    expect(Array.from(await a.read()), 'nothing overwritten').to.deep.equal([7, 7]);
    a.dispose();
    t.dispose();
  });
});
