import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { SafetensorsError, writeSafetensors } from '../../models/io/safetensors.ts';
import { hasRunState, loadRunState, saveRunState } from '../../training/run_state.ts';
import { useTestEngine } from '../helpers.ts';

describe('run state: non-finite values @gpu', () => {
  before(useTestEngine);
  let root: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-runstate-'));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('is never saved from non-finite tensors: the error names the tensor and element', async () => {
    const dir = path.join(root, 'save');
    const w = E.tensor([1, 2, NaN, 4], [2, 2], 'f32', 'w');
    const ok = E.tensor([1, 2], [2], 'f32', 'b');
    let error: unknown;
    try {
      await saveRunState(dir, new Map([['b', ok], ['w', w]]), { step: 3 });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(SafetensorsError);
    expect((error as Error).message).to.match(/tensors\.safetensors: tensor "w": element 2 \(index \[1, 0\] of shape \[2, 2\]\) is NaN/);
    expect(hasRunState(dir)).to.equal(false);
    w.dispose();
    ok.dispose();
  });

  it('refuses to resume from a checkpoint holding NaN or Infinity, naming file, tensor and element', () => {
    const dir = path.join(root, 'load');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'tensors.safetensors');
    writeSafetensors(file, [{ name: 'w.exp_avg_sq', shape: [3], data: Float32Array.from([0, Infinity, 1]) }], { allowNonFinite: true });
    fs.writeFileSync(path.join(dir, 'state.json'), '{"step": 3}');
    const t = E.zeros([3], 'f32', 'w.exp_avg_sq');
    expect(() => loadRunState(dir, new Map([['w.exp_avg_sq', t]]))).to.throw(SafetensorsError, `${file}: tensor "w.exp_avg_sq": element 1 is +Infinity`);
    t.dispose();
  });
});
