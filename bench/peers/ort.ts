/**
 * ONNX Runtime's WebGPU execution provider (onnxruntime-node) as a `bench peers` engine, for BERT
 * inference: the same weights exported by export/onnx.ts (float32), one session on the 'webgpu'
 * provider with graph optimisation 'all' (ORT's attention, layer-norm and GELU fusions apply).
 *
 * onnxruntime-node 1.30 ships the WebGPU provider on Linux x64 with its own statically linked Dawn:
 * it finds the same physical adapter itself (lavapipe here, the GPU there), not through the `webgpu`
 * package's instance. A run is session.run: token ids in, logits out (on the host, as for ours).
 */
import { DAWN_LIMIT_NOTICES, withNativeStderrFiltered } from '../../engine/runtime/native_stderr.ts';
import { onnxBytes } from '../../export/onnx.ts';
import { parameterShapes } from '../../models/bert.ts';
import { type Inputs, type Problem, bertConfig } from './problems.ts';
import { type PeerEngine, type Runner, packageVersion } from './runner.ts';

type Ort = typeof import('onnxruntime-node');

/** Loads onnxruntime-node. @throws Error when it is missing or its build has no WebGPU provider */
export async function loadOrt(): Promise<PeerEngine> {
  const name = 'onnxruntime-node';
  const ort = (await import(name)) as Ort;
  const version = packageVersion(name);
  const backends = (ort as unknown as { listSupportedBackends?: () => Array<{ name: string }> }).listSupportedBackends?.() ?? [];
  if (!backends.some((b) => b.name === 'webgpu')) throw new Error(`onnxruntime-node ${version} has no WebGPU execution provider on ${process.platform}-${process.arch}`);
  return { name: 'onnxruntime', version, kinds: ['bert'], prepare: async (p, inputs) => (p.kind === 'bert' ? ortRunner(ort, p, inputs) : null), dispose: () => {} };
}

async function ortRunner(ort: Ort, p: Extract<Problem, { kind: 'bert' }>, inputs: Inputs): Promise<Runner> {
  const config = bertConfig(p);
  const tensors = new Map([...parameterShapes(config, 'classification').keys()].map((n) => [n, inputs[n]!] as const));
  const options = { executionProviders: ['webgpu'], graphOptimizationLevel: 'all' as const, logSeverityLevel: 3 as const };
  // ORT's Dawn prints the same adapter-limit notices as ours.
  const session = await withNativeStderrFiltered(DAWN_LIMIT_NOTICES, () => ort.InferenceSession.create(onnxBytes({ config, tensors, head: 'classification' }), options));
  const int64 = (name: string) => new ort.Tensor('int64', BigInt64Array.from(inputs[name]!.data, (v) => BigInt(v)), [p.B, p.S]);
  const feeds = { input_ids: int64('input_ids'), attention_mask: int64('attention_mask'), token_type_ids: new ort.Tensor('int64', new BigInt64Array(p.B * p.S), [p.B, p.S]) };
  const logits = async () => {
    const out = await session.run(feeds);
    const data = Float32Array.from(out.logits!.data as Float32Array);
    for (const v of Object.values(out)) v.dispose();
    return [data];
  };
  return { run: async () => void (await logits()), outputs: logits, dispose: () => void session.release() };
}
