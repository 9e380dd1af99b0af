import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { exportModel } from '../../export/export_model.ts';
import { findRunFacts } from '../../export/model_card.ts';
import { testConfig, writeTestModel } from './fixtures.ts';

describe('export: webprune export (library call) and the model card @gpu', function () {
  this.timeout(60000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-exportmodel-'));
  const run = path.join(tmp, 'run');
  const model = path.join(run, 'pruned');
  before(() => {
    writeTestModel(model, testConfig('pruned'), 2);
    // What `webprune prune` leaves beside OUT/pruned.
    fs.writeFileSync(path.join(run, 'summary.json'), JSON.stringify({ task: 'mrpc', transfer: 'stsb', method: 'delta', sparsity: { target: 0.9, achieved: 0.9, expected: 0.9 }, metrics: { before_finetune: {}, dev: { accuracy: 0.684, f1: 0.812 } } }));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('writes both formats in the hub layout with a model card that has the task, sparsity, structure and metrics', () => {
    const out = path.join(tmp, 'out');
    const r = exportModel({ model, formats: ['onnx', 'transformers'], out });
    expect(r.remoteCode).to.equal(true);
    expect(r.files).to.include.members(['config.json', 'model.safetensors', 'modeling_webprune_bert.py', 'onnx/model.onnx', 'tokenizer.json', 'README.md']);
    const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    expect(card).to.match(/^---\nlibrary_name: transformers/);
    expect(card).to.include('| task | mrpc (transfer task stsb, method delta) |');
    expect(card).to.include('accuracy 0.6840, f1 0.8120');
    expect(card).to.include('| 1 | removed | 57 / 128 |');
    expect(card).to.include('| 2 | 2 / 4 | removed |');
    expect(card).to.include('trust_remote_code=True');
    expect(card).to.match(/hidden size \| 62 \(of 64; the pooler keeps 64\)/);

    // An f16 ONNX export into the same folder keeps the transformers config and lists both graphs.
    exportModel({ model, formats: ['onnx'], dtype: 'f16', out });
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).auto_map).to.be.an('object');
    const card2 = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    expect(card2).to.include('`onnx/model.onnx`').and.include('`onnx/model_fp16.onnx`').and.include('trust_remote_code=True');
  });

  it('finds the facts of a finetune run (summary.json) and says when there are none', () => {
    const ft = path.join(tmp, 'ft');
    writeTestModel(ft, testConfig('dense'), 3);
    expect(findRunFacts(ft)).to.equal(null);
    fs.writeFileSync(path.join(ft, 'summary.json'), JSON.stringify({ task: 'stsb', best: { pearson: 0.5, spearman: 0.4 } }));
    expect(findRunFacts(ft)).to.deep.include({ task: 'stsb', dev: { pearson: 0.5, spearman: 0.4 } });
    const out = path.join(tmp, 'ft-out');
    expect(exportModel({ model: ft, formats: ['transformers'], out }).remoteCode).to.equal(false);
    expect(fs.readFileSync(path.join(out, 'README.md'), 'utf8')).to.include('plain BERT checkpoint').and.not.include('trust_remote_code');
  });

  it('a rank-pruned model: the card lists each layer\'s factorised Linears', () => {
    const rank = path.join(tmp, 'rank');
    writeTestModel(rank, testConfig('rank'), 5);
    const out = path.join(tmp, 'rank-out');
    expect(exportModel({ model: rank, formats: ['transformers'], out }).remoteCode).to.equal(true);
    const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    expect(card).to.include('| layer | heads | FFN units | factorised Linears (rank) |');
    expect(card).to.include('| 1 | 2 / 4 | 100 / 128 | intermediate 3, output 0 |');
  });

  it('refuses bad options before writing anything', () => {
    expect(() => exportModel({ model, formats: [], out: path.join(tmp, 'x') })).to.throw(/--format/);
    expect(() => exportModel({ model, formats: ['tflite' as 'onnx'], out: path.join(tmp, 'x') })).to.throw(/unknown format "tflite"/);
    expect(() => exportModel({ model, formats: ['onnx'], dtype: 'bf16' as 'f16', out: path.join(tmp, 'x') })).to.throw(/--dtype must be f32 or f16/);
    expect(() => exportModel({ model, formats: ['onnx'], out: model })).to.throw(/--out must differ/);
    expect(fs.existsSync(path.join(tmp, 'x'))).to.equal(false);
  });
});
