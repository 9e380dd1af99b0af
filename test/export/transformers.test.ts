import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { writeOnnx } from '../../export/onnx.ts';
import { MODELING_FILE, needsRemoteCode, writeTransformersExport } from '../../export/transformers.ts';
import { readConfig } from '../../models/config.ts';
import { loadCheckpoint } from '../../models/io/checkpoint.ts';
import { loadModel } from '../../models/load.ts';
import { freshSeed, useTestEngine, skipBecause } from '../helpers.ts';
import { type HostBatch, mrpcBatches, pythonWith, testConfig, vocabDir, webpruneLogits, writeCheckCase, writeTestModel } from './fixtures.ts';

const CHECK_SCRIPT = path.resolve(import.meta.dirname, '../../scripts/check_export.py');

function runCheck(python: string, args: string[]): Promise<{ code: number; report: Record<string, { ok: boolean; max_abs_diff: number } & Record<string, unknown>>; stderr: string }> {
  return new Promise((resolve) =>
    execFile(python, [CHECK_SCRIPT, ...args], { maxBuffer: 16 * 2 ** 20, env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_VERBOSITY: 'error' } }, (err, stdout, stderr) => {
      let report = {};
      try {
        report = JSON.parse(stdout);
      } catch {
        // reported through stderr below
      }
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, report, stderr });
    }),
  );
}

describe('export: transformers @gpu @slow', function () {
  this.timeout(300000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-hfexport-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a dense model is plain BERT; a pruned one gets modeling_webprune_bert.py and an auto_map', () => {
    for (const kind of ['dense', 'pruned'] as const) {
      const src = path.join(tmp, `${kind}-src`);
      writeTestModel(src, testConfig(kind), 1);
      const ckpt = loadCheckpoint(src);
      const out = path.join(tmp, `${kind}-out`);
      const { files, remoteCode } = writeTransformersExport(ckpt, out, { tokenizerDir: src });
      expect(remoteCode).to.equal(kind === 'pruned');
      expect(needsRemoteCode(ckpt.config)).to.equal(kind === 'pruned');
      expect(files).to.include.members(['model.safetensors', 'config.json', 'tokenizer.json']);
      const json = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
      if (kind === 'dense') {
        expect(json).to.include({ model_type: 'bert' });
        expect(json.architectures).to.deep.equal(['BertForSequenceClassification']);
        expect(json).to.not.have.any.keys('auto_map', 'webprune_layers', 'attention_head_size', 'webprune_pooler_size');
        expect(fs.existsSync(path.join(out, MODELING_FILE))).to.equal(false);
      } else {
        expect(json).to.include({ model_type: 'webprune_bert', attention_head_size: 16, webprune_pooler_size: 64 });
        expect(json.auto_map.AutoModelForSequenceClassification).to.equal('modeling_webprune_bert.WebpruneBertForSequenceClassification');
        expect(json.webprune_layers.map((l: { num_attention_heads: number }) => l.num_attention_heads)).to.deep.equal([3, 0, 2, 1]);
        expect(json).to.not.have.property('pruned_heads');
        expect(fs.readFileSync(path.join(out, MODELING_FILE), 'utf8')).to.include('class WebpruneBertForSequenceClassification');
      }
      // webprune reads its own export back, weights unchanged.
      const back = loadCheckpoint(out);
      expect(back.config.layers).to.deep.equal(ckpt.config.layers);
      for (const [name, t] of ckpt.tensors) expect(Array.from(back.tensors.get(name)!.data), name).to.deep.equal(Array.from(t.data));
    }
  });

  it('refuses a model without a classification head', () => {
    const ckpt = loadCheckpoint(path.join(import.meta.dirname, '../fixtures/bert-parity/mlm'));
    expect(() => writeTransformersExport(ckpt, path.join(tmp, 'mlm'))).to.throw(/only sequence classifiers/);
  });

  describe('in Python (transformers, onnx.checker, onnxruntime), when they import', () => {
    let batches: HostBatch[];
    before(async function () {
      const probe = pythonWith(['torch', 'transformers', 'onnx', 'onnxruntime']);
      if ('missing' in probe) {
        skipBecause(this, probe.missing, 'lacks');
      }
      await useTestEngine();
      batches = mrpcBatches(16, 8, 128, 100);
    });

    for (const kind of ['dense', 'pruned', 'rank'] as const) {
      it(`${kind}: AutoModelForSequenceClassification (trust_remote_code=True) gives webprune's logits within 1e-4; onnx.checker accepts the graphs`, async () => {
        const { python } = pythonWith(['torch']) as { python: string };
        const seed = freshSeed();
        const src = path.join(tmp, `py-${kind}`);
        const config = testConfig(kind, kind === 'dense' ? 2 : 1);
        writeTestModel(src, config, seed);
        const { model } = loadModel(src, { head: 'classification', seed });
        const logits = await webpruneLogits(model, batches);
        model.dispose();
        const out = path.join(tmp, `py-${kind}-out`);
        const ckpt = loadCheckpoint(src);
        writeTransformersExport(ckpt, out, { tokenizerDir: vocabDir });
        const onnx = ['f32', 'f16'].map((dtype) => writeOnnx(ckpt, out, { dtype: dtype as 'f32' | 'f16' }));
        const caseFile = path.join(out, 'case.json');
        writeCheckCase(caseFile, batches, logits);
        const r = await runCheck(python, ['--inputs', caseFile, '--transformers', out, '--remote-code', kind === 'dense' ? 'no' : 'yes', '--onnx', ...onnx]);
        console.log(`      ${kind} (seed=${seed}): ${JSON.stringify(Object.fromEntries(Object.entries(r.report).map(([k, v]) => [path.basename(k), { max_abs_diff: v.max_abs_diff, class: v['class'], layers: v['layers'] }])))}`);
        expect(r.code, `check_export.py failed (seed=${seed}):\n${JSON.stringify(r.report, null, 2)}\n${r.stderr.slice(-3000)}`).to.equal(0);
        const hf = r.report['transformers']!;
        expect(hf.max_abs_diff).to.be.below(1e-4);
        expect(hf['layers']).to.deep.equal(readConfig(out).layers.map((l) => ({ heads: l.numHeads, intermediate: l.intermediateSize })));
        expect(r.report[onnx[0]!]!['checker']).to.match(/passed/);
      });
    }
  });
});
