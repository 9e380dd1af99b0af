/**
 * Building an ONNX graph node by node and serialising it, through the protobuf classes that
 * `onnx-proto` generates from ONNX's own schema (onnx.proto, IR version 8). Nothing here knows
 * BERT: export/onnx.ts builds the model on top.
 *
 * Floating-point tensors are of one element type per graph, the graph's `floatType` (FLOAT or
 * FLOAT16): initializers are stored in it (raw little-endian bytes) and float constants are made
 * in it, so a float16 graph computes in float16 end to end.
 */
import onnxProto from 'onnx-proto';
import { f32ToF16Array } from '../models/io/half.ts';

const { onnx } = onnxProto;
export type OnnxModelProto = onnxProto.onnx.IModelProto;

/** IR version of onnx.proto as onnx-proto ships it (ONNX 1.10+; opset 17 needs IR ≥ 8). */
export const IR_VERSION = 8;

/** Element types used by the exporters (TensorProto.DataType numbers). */
export const DataType = {
  FLOAT: onnx.TensorProto.DataType.FLOAT,
  FLOAT16: onnx.TensorProto.DataType.FLOAT16,
  INT64: onnx.TensorProto.DataType.INT64,
} as const;
export type FloatType = typeof DataType.FLOAT | typeof DataType.FLOAT16;

/** A dimension of a graph input or output: a fixed size or a named dynamic axis. */
export type Dim = number | string;

/** An attribute value: a float, an int, a list of ints, or a string. */
export type AttributeValue = { f: number } | { i: number } | { ints: number[] } | { s: string };

function attribute(name: string, v: AttributeValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('f' in v) return { name, type: T.FLOAT, f: v.f };
  if ('i' in v) return { name, type: T.INT, i: v.i };
  if ('ints' in v) return { name, type: T.INTS, ints: v.ints };
  return { name, type: T.STRING, s: new TextEncoder().encode(v.s) };
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Little-endian bytes of a typed array (the machine order of every platform webprune runs on). */
function bytesOf(a: Float32Array | Uint16Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * An ONNX graph under construction. Names of values are made unique by the builder; every node's
 * outputs are fresh names, so the graph is in SSA form and topologically ordered by construction.
 */
export class OnnxGraph {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  /** @param floatType element type of float initializers, constants and activations */
  constructor(readonly floatType: FloatType) {}

  /** A name not used yet, derived from `base`. */
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  /** Declares a graph input; returns its name. */
  input(name: string, elemType: number, dims: readonly Dim[]): string {
    if (this.used.has(name)) throw new Error(`OnnxGraph: input name ${name} already used`);
    this.used.add(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declares `value` as a graph output named `name` (through an Identity when the names differ). */
  output(value: string, name: string, elemType: number, dims: readonly Dim[]): void {
    const out = value === name ? value : this.node('Identity', [value], {}, name)[0]!;
    this.outputs.push(valueInfo(out, elemType, dims));
  }

  /**
   * A float initializer (a weight) in the graph's float type.
   * @param data row-major f32 values, prod(dims) of them
   * @throws Error when the length does not match the shape
   */
  floatInitializer(name: string, dims: readonly number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`OnnxGraph: initializer ${name} has ${data.length} values, shape [${dims.join(', ')}] needs ${n}`);
    const raw = this.floatType === DataType.FLOAT16 ? bytesOf(f32ToF16Array(data)) : bytesOf(data);
    const unique = this.fresh(name);
    this.initializers.push({ name: unique, dims: [...dims], dataType: this.floatType, rawData: raw });
    return unique;
  }

  /** An int64 initializer (shapes, axes, indices). */
  intInitializer(name: string, dims: readonly number[], values: readonly number[]): string {
    const unique = this.fresh(name);
    this.initializers.push({ name: unique, dims: [...dims], dataType: DataType.INT64, rawData: bytesOf(BigInt64Array.from(values, (v) => BigInt(v))) });
    return unique;
  }

  /** A float scalar constant in the graph's float type, shared between uses of the same value. */
  scalar(value: number): string {
    const key = `f${value}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.floatInitializer(`const_${String(value).replace(/[^0-9a-zA-Z]/g, '_')}`, [], Float32Array.of(value));
      this.constants.set(key, name);
    }
    return name;
  }

  /** An int64 1-D constant, shared between uses of the same values. */
  ints(values: readonly number[]): string {
    const key = `i${values.join(',')}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.intInitializer(`ints_${values.join('_').replace(/-/g, 'm')}`, [values.length], values);
      this.constants.set(key, name);
    }
    return name;
  }

  /**
   * Appends a node of the default (ai.onnx) domain.
   * @param outputs output base names, or a count of outputs named after the op
   * @returns the (unique) output names
   */
  node(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputs: string | string[] | number = 1): string[] {
    const bases = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, k) => `${opType.toLowerCase()}${outputs > 1 ? `_${k}` : ''}`) : typeof outputs === 'string' ? [outputs] : outputs;
    const names = bases.map((b) => this.fresh(b));
    this.nodes.push({
      name: this.fresh(`${opType}_node`),
      opType,
      input: [...inputs],
      output: names,
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return names;
  }

  /** One-output node: the output's name. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, output?: string): string {
    return this.node(opType, inputs, attributes, output ?? 1)[0]!;
  }

  /** Number of nodes with this op type (tests and model cards). */
  count(opType: string): number {
    return this.nodes.filter((n) => n.opType === opType).length;
  }

  /**
   * The model: this graph, opset `opset` of the default domain, and string metadata.
   * @param opset ai.onnx opset version (17: LayerNormalization exists)
   */
  model(name: string, opset: number, metadata: Record<string, string> = {}, producerVersion = ''): OnnxModelProto {
    return {
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: opset }],
      producerName: 'webprune',
      producerVersion,
      graph: { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    };
  }
}

/** The protobuf bytes of a model (ModelProto wire format, as `.onnx` files hold). */
export function encodeModel(model: OnnxModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** Parses `.onnx` bytes back into a ModelProto (tests, model cards). */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
