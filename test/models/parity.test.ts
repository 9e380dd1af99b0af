/**
 * Parity with Hugging Face transformers: webprune's Bert against golden outputs and gradients that
 * scripts/golden/make_bert_golden.py computed with transformers' BertForSequenceClassification /
 * BertForMaskedLM (or its plain-PyTorch replica; see test/fixtures/bert-parity/README.md).
 *
 * Each fixture directory holds config.json, model.safetensors (transformers' names) and
 * golden.safetensors (inputs, every output, every layer's hidden state, every parameter's
 * gradient of the loss in eval mode). All must agree within 1e-4 relative error.
 *
 * Set WEBPRUNE_PARITY_REPORT=1 to print every relative error.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { Bert, type EncoderOutput, type HeadKind } from '../../models/bert.ts';
import type { BertConfig } from '../../models/config.ts';
import { loadCheckpoint } from '../../models/io/checkpoint.ts';
import { type SafetensorsTensor, readSafetensors } from '../../models/io/safetensors.ts';
import { expectClose, useTestEngine } from '../helpers.ts';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/bert-parity');
const CASES = ['classification', 'regression', 'mlm', 'pruned-heads'] as const;
const TOL = 1e-4;

function f32(t: SafetensorsTensor, file: string, name: string): Float32Array {
  if (!(t.data instanceof Float32Array)) throw new Error(`${file}: tensor "${name}" is ${t.dtype}, expected a float dtype`);
  return t.data;
}

function golden(tensors: Map<string, SafetensorsTensor>, file: string, name: string): SafetensorsTensor {
  const t = tensors.get(name);
  if (!t) throw new Error(`${file}: tensor "${name}" missing`);
  return t;
}

/**
 * The fixture's transformers checkpoint through webprune's own loader (models/io/checkpoint.ts),
 * which detects the head, drops the tied decoder and normalises names.
 */
function loadFixture(dir: string): { config: BertConfig; head: HeadKind; values: Map<string, { shape: number[]; data: Float32Array }> } {
  const { config, head, tensors } = loadCheckpoint(dir);
  return { config, head, values: tensors };
}

/** Euclidean norm. */
function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! ** 2;
  return Math.sqrt(s);
}

/**
 * The error rule of make_bert_golden.py: relative error, except for the gradient of an attention
 * key bias, which is analytically zero (a constant added to all keys of a query's row leaves its
 * softmax unchanged). Its golden value is rounding noise (~1e-8), so its absolute error is measured
 * against the norm of the sibling key.weight gradient: this returns that norm, or null for the
 * plain relative rule.
 */
function zeroGradientScale(name: string, goldenTensors: Map<string, SafetensorsTensor>, file: string): number | null {
  if (!(name.startsWith('grad.') && name.endsWith('.attention.self.key.bias'))) return null;
  const sibling = `${name.slice(0, -'bias'.length)}weight`;
  return norm(f32(golden(goldenTensors, file, sibling), file, sibling));
}

describe('BERT parity with Hugging Face transformers (golden files) @gpu', () => {
  before(useTestEngine);

  it('fixtures exist, record their implementation, and pruned-heads parses to 3 and 1 heads', () => {
    for (const name of CASES) {
      const { metadata } = readSafetensors(path.join(FIXTURES, name, 'golden.safetensors'));
      expect(metadata['implementation'], `${name}: implementation metadata`).to.be.a('string').and.not.equal('');
    }
    const { config, values } = loadFixture(path.join(FIXTURES, 'pruned-heads'));
    expect(config.layers.map((l) => l.numHeads)).to.deep.equal([3, 1]);
    expect(values.get('bert.encoder.layer.0.attention.self.query.weight')?.shape).to.deep.equal([24, 32]);
    expect(values.get('bert.encoder.layer.1.attention.output.dense.weight')?.shape).to.deep.equal([32, 8]);
  });

  for (const name of CASES) {
    it(`${name}: outputs, hidden states, loss and every gradient match within ${TOL}`, async () => {
      const dir = path.join(FIXTURES, name);
      const { config, head, values } = loadFixture(dir);
      const goldenFile = path.join(dir, 'golden.safetensors');
      const g = readSafetensors(goldenFile).tensors;
      const get = (n: string) => golden(g, goldenFile, n);
      const ids = get('input_ids');
      const [B, S] = ids.shape as [number, number];
      const model = new Bert(config, head, values);

      const labelsT = get('labels');
      const inputs = {
        inputIds: E.tensor(ids.data as Int32Array, [B, S], 'i32'),
        tokenTypeIds: E.tensor(get('token_type_ids').data as Int32Array, [B, S], 'i32'),
        attentionMask: E.tensor(get('attention_mask').data as Float32Array, [B, S]),
      };
      const labels = labelsT.data instanceof Float32Array ? E.tensor(labelsT.data, labelsT.shape) : E.tensor(labelsT.data as Int32Array, labelsT.shape, 'i32');
      const out = E.tidy(() => {
        const options = { training: false, outputHiddenStates: true };
        let logits: Tensor;
        let pooled: Tensor | null = null;
        let encoder: EncoderOutput;
        let loss: Tensor;
        if (head === 'classification') {
          const r = model.classify(inputs, options);
          logits = r.logits;
          encoder = r.encoder;
          pooled = model.pool(encoder.sequence);
          loss = config.problemType === 'regression' ? E.mseLoss(logits, labels) : E.crossEntropy(logits, labels);
        } else {
          encoder = model.encode(inputs, options);
          const positions = E.tensor(Int32Array.from({ length: B * S }, (_, i) => i), [B * S], 'i32');
          logits = model.mlmLogits(encoder.sequence, positions);
          loss = E.crossEntropy(logits, E.reshape(labels, [B * S]), { ignoreIndex: -100 });
        }
        E.backward(loss);
        return { sequence: encoder.sequence, pooled, logits, loss, hidden: encoder.hiddenStates ?? [] };
      });

      // Every golden output and gradient, paired with webprune's.
      const ours = new Map<string, Tensor>([
        ['last_hidden_state', out.sequence],
        ['logits', out.logits],
        ['loss', out.loss],
      ]);
      if (out.pooled) ours.set('pooler_output', out.pooled);
      out.hidden.forEach((h, i) => ours.set(`hidden_states.${i}`, h));
      const gradNames = [...g.keys()].filter((n) => n.startsWith('grad.'));
      for (const n of gradNames) {
        const p = model.p(n.slice('grad.'.length));
        expect(p.grad, `${name}: webprune has no gradient for ${n.slice(5)}`).to.not.equal(null);
        ours.set(n, p.grad!);
      }
      // The fixture covers the model: every output, hidden state and (used) parameter gradient.
      const expected = ['last_hidden_state', 'logits', 'loss', ...(head === 'classification' ? ['pooler_output'] : [])];
      expected.push(...Array.from({ length: config.numLayers + 1 }, (_, i) => `hidden_states.${i}`));
      for (const n of expected) expect(g.has(n), `${goldenFile}: "${n}" missing`).to.equal(true);
      const paramNames = [...model.params.keys()];
      expect(gradNames.map((n) => n.slice(5)).sort(), `${name}: gradients in the golden file`).to.deep.equal(paramNames.sort());

      const failures: string[] = [];
      const report: string[] = [];
      for (const [n, t] of ours) {
        const ref = f32(get(n), goldenFile, n);
        const mine = (await t.read()) as Float32Array;
        const scale = zeroGradientScale(n, g, goldenFile);
        const context = `${name} ${n}`;
        try {
          expect(E.sizeOf(t.shape), `${context}: size of ${E.shapeString(t.shape)} vs golden [${get(n).shape.join(', ')}]`).to.equal(ref.length);
          if (scale !== null) {
            expect(norm(ref) / scale, `${context}: golden value is not ~0`).to.be.lessThan(1e-6);
            const err = norm(Float32Array.from(mine, (v, i) => v - ref[i]!)) / scale;
            report.push(`${n} ${err.toExponential(2)} (abs / key.weight grad norm)`);
            expect(err, `${context}: error ${err.toExponential(2)} ≥ ${TOL}`).to.be.lessThan(TOL);
          } else {
            report.push(`${n} ${expectClose(mine, ref, TOL, context).toExponential(2)}`);
          }
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      if (process.env.WEBPRUNE_PARITY_REPORT) console.log(`parity ${name}:\n  ${report.join('\n  ')}`);
      expect(failures, `${name}: ${failures.length} of ${ours.size} tensors differ from transformers:\n${failures.join('\n')}`).to.deep.equal([]);

      for (const t of new Set([out.sequence, out.logits, out.loss, ...out.hidden, ...(out.pooled ? [out.pooled] : [])])) t.dispose();
      for (const t of [...Object.values(inputs), labels]) t.dispose();
      model.dispose();
    });
  }
});
