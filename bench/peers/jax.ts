/**
 * jax-js (@jax-js/jax, an optional devDependency) as a `bench peers` engine: its WebGPU backend on
 * Dawn's navigator.gpu from the `webgpu` package.
 *
 * Each problem in jax-js's own best idiom: one jit-compiled function per problem (jax-js fuses
 * elementwise work into its kernels at trace time), attention as batched products and a softmax,
 * the layer's backward through jit(grad(·)).
 * jax-js frees arrays by move semantics: every argument is consumed, so each call passes `.ref`s of
 * arrays uploaded once.
 */
import type * as Jax from '@jax-js/jax';
import { LAYER_NORM_EPS, LAYER_PARAMS, type HostTensor, type Inputs, type Problem } from './problems.ts';

/** The problems this engine runs. */
type TensorProblem = Exclude<Problem, { kind: 'bert' }>;
import { type PeerEngine, type Runner, packageVersion } from './runner.ts';

type JaxModule = typeof Jax;
type JArray = Jax.Array;

/** Loads jax-js and starts its WebGPU backend on navigator.gpu (installNavigatorGpu must have run). @throws Error when the package is missing or the backend does not start */
export async function loadJax(): Promise<PeerEngine> {
  // A computed specifier: the CLI bundle must load the optional package at run time, not embed it.
  const name = '@jax-js/jax';
  const jax = (await import(name)) as JaxModule;
  const version = packageVersion(name);
  const devices = await jax.init('webgpu');
  if (!devices.includes('webgpu')) throw new Error("jax-js: the 'webgpu' backend did not start (is navigator.gpu set?)");
  jax.defaultDevice('webgpu');
  return {
    name: 'jax-js',
    version,
    // Not BERT inference: ONNX Runtime is the peer there.
    kinds: ['gemm', 'attention', 'layer'],
    prepare: async (p, inputs) => (p.kind === 'bert' ? null : jaxRunner(jax, p, inputs)),
    dispose: () => {},
  };
}

function jaxRunner(jax: JaxModule, p: TensorProblem, inputs: Inputs): Runner {
  const np = jax.numpy;
  const held: JArray[] = [];
  const up = (t: HostTensor, shape = t.shape) => {
    const a = np.array(t.data, { shape });
    held.push(a);
    return a;
  };
  const { timed, outputs } = problemFunctions(jax, p, inputs, up);
  return {
    async run() {
      const out = timed();
      await jax.blockUntilReady(out);
      out.forEach((a) => a.dispose());
    },
    async outputs() {
      return Promise.all(outputs().map(async (a) => (await a.data()) as Float32Array));
    },
    dispose: () => held.forEach((a) => a.dispose()),
  };
}

/** What a timed run computes, and the outputs in outputNames order; both return fresh arrays the caller consumes. */
function problemFunctions(jax: JaxModule, p: TensorProblem, inputs: Inputs, up: (t: HostTensor, shape?: number[]) => JArray): { timed: () => JArray[]; outputs: () => JArray[] } {
  const np = jax.numpy;
  switch (p.kind) {
    case 'gemm': {
      const [x, w, b] = [up(inputs.x!), up(inputs.w!), up(inputs.b!)] as [JArray, JArray, JArray];
      const f = jax.jit((x: JArray, w: JArray, b: JArray) => np.matmul(x, w.transpose()).add(b));
      const run = () => [f(x.ref, w.ref, b.ref)];
      return { timed: run, outputs: run };
    }
    case 'attention': {
      const [q, k, v] = [up(inputs.q!), up(inputs.k!), up(inputs.v!)] as [JArray, JArray, JArray];
      const bias = up(inputs.mask!, [p.B, 1, 1, p.S]);
      const f = jax.jit((q: JArray, k: JArray, v: JArray, bias: JArray) => attention(jax, q, k, v, bias, p.B, p.S, p.heads, p.d));
      const run = () => [f(q.ref, k.ref, v.ref, bias.ref)];
      return { timed: run, outputs: run };
    }
    case 'layer': {
      const tree = { x: up(inputs.x!), params: LAYER_PARAMS.map((n) => up(inputs[n]!)) };
      const bias = up(inputs.mask!, [p.B, 1, 1, p.S]);
      const dy = up(inputs.dy!);
      type Tree = { x: JArray; params: JArray[] };
      const forward = (t: Tree, bias: JArray) => layer(jax, t.x, t.params, bias, p);
      const fwd = jax.jit(forward);
      const gradients = jax.jit(jax.grad((t: Tree, bias: JArray, dy: JArray) => np.sum(forward(t, bias).mul(dy))));
      const refs = (): Tree => ({ x: tree.x.ref, params: tree.params.map((a) => a.ref) });
      const grads = () => {
        const g = gradients(refs(), bias.ref, dy.ref) as Tree;
        return [g.x, ...g.params];
      };
      return { timed: grads, outputs: () => [fwd(refs(), bias.ref), ...grads()] };
    }
  }
}

/**
 * softmax(q·kᵀ/√d + bias)·v per head; q, k, v [B, S, h·d] (consumed), bias [B, 1, 1, S] → [B, S, h·d].
 * Written out as jax-js's nn.dotProductAttention computes it (two batched products and a softmax),
 * because that function's einsum parser needs iterator helpers (Iterator.prototype.map), which
 * Node 20 lacks.
 */
function attention(jax: JaxModule, q: JArray, k: JArray, v: JArray, bias: JArray, B: number, S: number, h: number, d: number): JArray {
  const np = jax.numpy;
  const heads = (t: JArray) => t.reshape([B, S, h, d]).transpose([0, 2, 1, 3]);
  const scores = np.matmul(heads(q), heads(k).transpose([0, 1, 3, 2])).mul(1 / Math.sqrt(d)).add(bias);
  return np.matmul(jax.nn.softmax(scores, -1), heads(v)).transpose([0, 2, 1, 3]).reshape([B, S, h * d]);
}

/** A post-LN BERT layer on x [B, S, H] with the 16 parameters in LAYER_PARAMS order (all consumed). */
function layer(jax: JaxModule, x: JArray, ps: JArray[], bias: JArray, p: Extract<Problem, { kind: 'layer' }>): JArray {
  const np = jax.numpy;
  const [wq, bq, wk, bk, wv, bv, wo, bo, g1, be1, w1, b1, w2, b2, g2, be2] = ps as [JArray, ...JArray[]];
  const linear = (a: JArray, w: JArray, b: JArray) => np.matmul(a, w.transpose()).add(b);
  const norm = (a: JArray, g: JArray, b: JArray) => jax.nn.standardize(a, -1, { epsilon: LAYER_NORM_EPS }).mul(g).add(b);
  const gelu = (a: JArray) => a.ref.mul(0.5).mul(jax.scipySpecial.erf(a.mul(Math.SQRT1_2)).add(1));
  const x2 = x.reshape([p.B * p.S, p.H]);
  const context = attention(jax, linear(x2.ref, wq!, bq!), linear(x2.ref, wk!, bk!), linear(x2.ref, wv!, bv!), bias, p.B, p.S, p.heads, p.H / p.heads);
  const a = norm(linear(context.reshape([p.B * p.S, p.H]), wo!, bo!).add(x2), g1!, be1!);
  const out = norm(linear(gelu(linear(a.ref, w1!, b1!)), w2!, b2!).add(a), g2!, be2!);
  return out.reshape([p.B, p.S, p.H]);
}
