/**
 * webprune's side of `bench peers`: each problem computed the way the model computes it (the
 * engine's matmul with a fused bias, the fused masked attention, Bert.layer with autograd).
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { Bert, initialValues, layerNames, parameterShapes } from '../../models/bert.ts';
import { type BertConfig, namedConfig } from '../../models/config.ts';
import { maskedAttention } from '../../models/ops/masked_attention.ts';
import { LAYER_PARAMS, LAYER_NORM_EPS, type HostTensor, type Inputs, type LayerParam, type Problem, bertConfig } from './problems.ts';
import type { Runner } from './runner.ts';

const upload = (t: HostTensor): Tensor => E.keep(E.tensor(t.data, t.shape));

/** transformers' name of one of the layer's parameters in layer 0. */
export function transformersName(name: LayerParam): string {
  const n = layerNames(0);
  const [module, kind] = name.split('.') as [string, string];
  const prefix = { query: n.query, key: n.key, value: n.value, attn_out: n.attnOut, attn_norm: n.attnNorm, ffn_in: n.intermediate, ffn_out: n.output, out_norm: n.outNorm }[module]!;
  return `${prefix}.${kind}`;
}

/** A runner over `record` (records the GPU work of one run and returns the outputs to read, or nothing when timed). */
function runner(record: (read: boolean) => Tensor[], release: () => void): Runner {
  const engine = E.getEngine();
  return {
    async run() {
      E.tidy(() => void record(false));
      await engine.sync();
    },
    async outputs() {
      const ts = E.tidy(() => record(true));
      const out = await Promise.all(ts.map(async (t) => (await t.read()) as Float32Array));
      ts.forEach((t) => t.dispose());
      return out;
    },
    dispose: release,
  };
}

/** A one-layer BERT whose layer 0 holds the problem's parameters (embeddings minimal: they are not used). */
function layerModel(p: Extract<Problem, { kind: 'layer' }>, inputs: Inputs): Bert {
  const config: BertConfig = {
    ...namedConfig('tiny'),
    vocabSize: 2,
    maxPositionEmbeddings: p.S,
    hiddenSize: p.H,
    numLayers: 1,
    numHeads: p.heads,
    headSize: p.H / p.heads,
    intermediateSize: p.I,
    layers: [{ numHeads: p.heads, intermediateSize: p.I }],
    layerNormEps: LAYER_NORM_EPS,
    hiddenDropout: 0,
    attentionDropout: 0,
  };
  const values = initialValues(config, 'classification', 0);
  for (const name of LAYER_PARAMS) values.set(transformersName(name), { shape: inputs[name]!.shape, data: inputs[name]!.data });
  return new Bert(config, 'classification', values);
}

/**
 * The classifier of a 'bert' problem on its inputs. A run reads the logits back: the peer it is set
 * against (ONNX Runtime) returns them on the host.
 */
function bertRunner(p: Extract<Problem, { kind: 'bert' }>, inputs: Inputs): Runner {
  const config = bertConfig(p);
  const values = new Map([...parameterShapes(config, 'classification').keys()].map((n) => [n, inputs[n]!] as const));
  const model = new Bert(config, 'classification', values);
  const ids = E.keep(E.tensor(Int32Array.from(inputs.input_ids!.data), [p.B, p.S], 'i32'));
  const mask = upload(inputs.attention_mask!);
  const logits = async () => {
    const t = E.tidy(() => model.classify({ inputIds: ids, attentionMask: mask }, { training: false }).logits);
    const out = (await t.read()) as Float32Array;
    t.dispose();
    return [out];
  };
  return {
    run: async () => void (await logits()),
    outputs: logits,
    dispose: () => {
      model.dispose();
      ids.dispose();
      mask.dispose();
    },
  };
}

/** webprune's runner for a problem. */
export function oursRunner(p: Problem, inputs: Inputs): Runner {
  switch (p.kind) {
    case 'gemm': {
      const [x, w, b] = [inputs.x!, inputs.w!, inputs.b!].map(upload) as [Tensor, Tensor, Tensor];
      return runner(() => [E.matmul(x, w, { transB: true, bias: b })], () => [x, w, b].forEach((t) => t.dispose()));
    }
    case 'attention': {
      const [q, k, v, mask] = [inputs.q!, inputs.k!, inputs.v!, inputs.mask!].map(upload) as [Tensor, Tensor, Tensor, Tensor];
      return runner(
        () => [maskedAttention(q, k, v, { heads: p.heads, mask, dropout: 0, training: false })],
        () => [q, k, v, mask].forEach((t) => t.dispose()),
      );
    }
    case 'layer': {
      const model = layerModel(p, inputs);
      const x = E.parameter(inputs.x!.data, inputs.x!.shape, 'x');
      const [mask, dy] = [inputs.mask!, inputs.dy!].map(upload) as [Tensor, Tensor];
      const grads = [x, ...LAYER_PARAMS.map((n) => model.p(transformersName(n)))];
      return runner(
        (read) => {
          const y = model.layer(x, 0, mask, { training: false });
          E.backward(y, dy);
          // Gradients live outside every scope: handed to the reader, or freed here.
          const out = read ? [y, ...grads.map((t) => t.grad!)] : [];
          for (const t of grads) {
            if (!read) t.grad?.dispose();
            t.grad = null;
          }
          return out;
        },
        () => {
          model.dispose();
          [x, mask, dy].forEach((t) => t.dispose());
        },
      );
    }
    case 'bert':
      return bertRunner(p, inputs);
  }
}
