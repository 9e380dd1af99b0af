/**
 * A compute kernel: one `.wgsl` file (defined by its owner with defineKernel), reflected with wgsl_reflect.
 *
 * Reflection gives every binding's name, group, index, kind (uniform or storage), access and element
 * type, and the byte layout of uniform structs. From it the kernel builds its bind-group layouts
 * (never written by hand), checks what a dispatch binds by name, and packs uniform structs from
 * plain objects keyed by member name.
 *
 * Sources may use three preprocessor forms before reflection:
 *   `#include "lib/philox.wgsl"`  pastes another kernel source (once);
 *   `#unroll i COUNT` ... `#end`  repeats the lines between for i = 0 .. COUNT − 1 with `{{i}}`
 *                                 replaced by the index (COUNT: an integer expression of numbers,
 *                                 + − * / % and parentheses, after template substitution; / is
 *                                 integer division). Blocks nest. CPU kernels use it for their
 *                                 register tiles: a loop the shader compiler does not unroll
 *                                 leaves the tile in memory, indexed per lane (10× slower);
 *   `{{NAME}}`                    replaced by defines[NAME] (element types, workgroup sizes).
 */
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { DType } from '../dtype.ts';

/** Element types a storage array may have, mapped to tensor dtypes. */
const ELEMENT_DTYPES: Record<string, DType> = { f32: 'f32', i32: 'i32', u32: 'u32', f16: 'f16' };

export interface StorageBindingInfo {
  kind: 'storage';
  name: string;
  group: number;
  binding: number;
  access: 'read' | 'read_write';
  dtype: DType;
  /**
   * Components per array element: 1 for array<f32>, 2 or 4 for array<vec2<f32>> / array<vec4<f32>>
   * (CPU kernels read rows as vec4s). A tensor bound to a vector array is bound rounded up to a
   * whole element, so its last partial vector stays addressable.
   */
  components: number;
}

/** One member of a uniform struct: byte offset, scalar type, component count, array length. */
export interface UniformMember {
  name: string;
  offset: number;
  scalar: 'f32' | 'i32' | 'u32';
  /** Components per element (1 scalar, 2-4 vector). */
  components: number;
  /** Elements (1 unless the member is an array), with byte stride between them. */
  count: number;
  stride: number;
}

export interface UniformBindingInfo {
  kind: 'uniform';
  name: string;
  group: number;
  binding: number;
  size: number;
  members: UniformMember[];
}

export type BindingInfo = StorageBindingInfo | UniformBindingInfo;

/** Values for a uniform struct, by member name: numbers for scalars, arrays for vectors and arrays. */
export type UniformValues = Record<string, number | readonly number[]>;

export class KernelSourceError extends Error {}

/**
 * Resolves `#include` lines, `#unroll` blocks and `{{NAME}}` templates.
 * @throws KernelSourceError for an unknown include, an undefined template name, an unterminated or
 *   stray `#unroll`/`#end`, or a count that is not a non-negative integer expression
 */
export function preprocess(
  name: string,
  source: string,
  library: Readonly<Record<string, string>>,
  defines: Readonly<Record<string, string | number>> = {},
): string {
  const included = new Set<string>();
  const expand = (src: string, from: string): string =>
    src.replace(/^[ \t]*#include\s+"([^"]+)"[ \t]*$/gm, (_line, file: string) => {
      if (included.has(file)) return '';
      included.add(file);
      const body = library[file];
      if (body === undefined) throw new KernelSourceError(`kernel ${from}: #include "${file}" not found in the kernel's library or the core library`);
      return expand(body, file);
    });
  const substitute = (text: string, values: Readonly<Record<string, string | number>>, strict: boolean) =>
    text.replace(/\{\{(\w+)\}\}/g, (m, key: string) => {
      const value = values[key];
      if (value === undefined) {
        if (strict) throw new KernelSourceError(`kernel ${name}: template {{${key}}} has no value`);
        return m;
      }
      return String(value);
    });
  const unrolled = unrollBlocks(name, expand(source, name).split('\n'), (count) => evalCount(name, substitute(count, defines, true)), defines);
  return substitute(unrolled.join('\n'), defines, true);
}

const UNROLL = /^[ \t]*#unroll[ \t]+(\w+)[ \t]+(.+?)[ \t]*$/;
const END = /^[ \t]*#end[ \t]*$/;

/** Expands `#unroll VAR COUNT` ... `#end` blocks (outermost first, so inner counts may use outer indices). */
function unrollBlocks(kernel: string, lines: string[], count: (expr: string) => number, defines: Readonly<Record<string, string | number>>): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = UNROLL.exec(lines[i]!);
    if (!head) {
      if (END.test(lines[i]!)) throw new KernelSourceError(`kernel ${kernel}: #end without #unroll`);
      out.push(lines[i]!);
      continue;
    }
    const [, variable, expr] = head as unknown as [string, string, string];
    if (variable in defines) throw new KernelSourceError(`kernel ${kernel}: #unroll variable ${variable} is also a template value`);
    let depth = 1;
    let j = i + 1;
    for (; j < lines.length; j++) {
      if (UNROLL.test(lines[j]!)) depth++;
      else if (END.test(lines[j]!) && --depth === 0) break;
    }
    if (depth !== 0) throw new KernelSourceError(`kernel ${kernel}: #unroll ${variable} has no #end`);
    const body = lines.slice(i + 1, j);
    const n = count(expr);
    for (let v = 0; v < n; v++) {
      const copy = body.map((line) => line.replace(new RegExp(`\\{\\{${variable}\\}\\}`, 'g'), String(v)));
      out.push(...unrollBlocks(kernel, copy, count, defines));
    }
    i = j;
  }
  return out;
}

/**
 * Value of an unroll count: integers, + - * / % and parentheses (/ truncates).
 * @throws KernelSourceError for anything else, or a negative or non-integer result
 */
function evalCount(kernel: string, expr: string): number {
  const tokens = expr.match(/\d+|[-+*/%()]|\S/g) ?? [];
  let at = 0;
  const fail = (): never => {
    throw new KernelSourceError(`kernel ${kernel}: #unroll count "${expr}" is not an integer expression`);
  };
  const primary = (): number => {
    const t = tokens[at++];
    if (t === '(') {
      const v = sum();
      if (tokens[at++] !== ')') fail();
      return v;
    }
    if (t === '-') return -primary();
    if (t === undefined || !/^\d+$/.test(t)) return fail();
    return Number(t);
  };
  const product = (): number => {
    let v = primary();
    while (tokens[at] === '*' || tokens[at] === '/' || tokens[at] === '%') {
      const op = tokens[at++];
      const r = primary();
      v = op === '*' ? v * r : op === '/' ? Math.trunc(v / r) : v % r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (tokens[at] === '+' || tokens[at] === '-') v = tokens[at++] === '+' ? v + product() : v - product();
    return v;
  };
  const v = sum();
  if (at !== tokens.length || !Number.isInteger(v) || v < 0) fail();
  return v;
}

function reflectBindings(name: string, reflect: WgslReflect): BindingInfo[] {
  const out: BindingInfo[] = [];
  for (const group of reflect.getBindGroups()) {
    for (const b of group) {
      if (!b) continue;
      const type = b.type as unknown as { name: string; format?: { name: string; format?: { name: string } } };
      if (b.resourceType === 1 /* storage */) {
        let element = type.format?.name;
        let components = 1;
        if (element === 'atomic') element = type.format?.format?.name;
        else if (element === 'vec2' || element === 'vec4') {
          components = Number(element[3]);
          element = type.format?.format?.name;
        }
        const dtype = element ? ELEMENT_DTYPES[element] : undefined;
        if (type.name !== 'array' || !dtype) {
          throw new KernelSourceError(`kernel ${name}: storage binding '${b.name}' must be array<T>, array<vec2<T>> or array<vec4<T>> with T f32, i32, u32 or f16`);
        }
        out.push({ kind: 'storage', name: b.name, group: b.group, binding: b.binding, access: b.access as 'read' | 'read_write', dtype, components });
      } else if (b.resourceType === 0 /* uniform */) {
        out.push({ kind: 'uniform', name: b.name, group: b.group, binding: b.binding, size: b.size, members: uniformMembers(name, b) });
      } else {
        throw new KernelSourceError(`kernel ${name}: binding '${b.name}' is neither storage nor uniform`);
      }
    }
  }
  return out;
}

function uniformMembers(kernel: string, b: { name: string; type: unknown }): UniformMember[] {
  const struct = b.type as { members?: Array<{ name: string; offset: number; type: ReflectType }> };
  if (!struct.members) throw new KernelSourceError(`kernel ${kernel}: uniform '${b.name}' must be a struct`);
  return struct.members.map((m) => {
    let t = m.type;
    let count = 1;
    let stride = 0;
    if (t.name === 'array') {
      count = t.count ?? 0;
      stride = t.stride ?? 0;
      t = t.format!;
    }
    const scalar = (t.format?.name ?? t.name) as UniformMember['scalar'];
    const components = t.name.startsWith('vec') ? Number(t.name[3]) : 1;
    if (!['f32', 'i32', 'u32'].includes(scalar) || !(components >= 1 && components <= 4)) {
      throw new KernelSourceError(`kernel ${kernel}: uniform member ${b.name}.${m.name} has unsupported type ${t.name}`);
    }
    return { name: m.name, offset: m.offset, scalar, components, count, stride };
  });
}

interface ReflectType {
  name: string;
  format?: ReflectType;
  count?: number;
  stride?: number;
}

export class Kernel {
  readonly bindings: readonly BindingInfo[];
  readonly overrides: ReadonlySet<string>;
  readonly entryPoint: string;
  private readonly layouts = new Map<GPUDevice, { bindGroupLayouts: GPUBindGroupLayout[]; module: GPUShaderModule; pipelines: Map<string, GPUComputePipeline> }>();

  /**
   * @param name kernel name for messages (its file name without `.wgsl`)
   * @param code preprocessed WGSL with exactly one `@compute` entry point
   * @throws KernelSourceError when the WGSL declares bindings the engine cannot bind
   */
  constructor(
    readonly name: string,
    readonly code: string,
  ) {
    const reflect = new WgslReflect(code);
    const entries = reflect.entry.compute;
    if (entries.length !== 1) throw new KernelSourceError(`kernel ${name}: needs exactly one @compute entry point, found ${entries.length}`);
    this.entryPoint = entries[0]!.name;
    this.bindings = reflectBindings(name, reflect);
    this.overrides = new Set(reflect.overrides.map((o) => o.name));
  }

  binding(name: string): BindingInfo | undefined {
    return this.bindings.find((b) => b.name === name);
  }

  /**
   * The pipeline for these override constants, created on first use per device.
   * @throws KernelSourceError for a constant the WGSL does not declare
   */
  pipeline(device: GPUDevice, constants: Readonly<Record<string, number>> = {}): { pipeline: GPUComputePipeline; bindGroupLayouts: GPUBindGroupLayout[] } {
    let perDevice = this.layouts.get(device);
    if (!perDevice) {
      const groups = new Map<number, GPUBindGroupLayoutEntry[]>();
      for (const b of this.bindings) {
        const type: GPUBufferBindingType = b.kind === 'uniform' ? 'uniform' : b.access === 'read' ? 'read-only-storage' : 'storage';
        if (!groups.has(b.group)) groups.set(b.group, []);
        groups.get(b.group)!.push({ binding: b.binding, visibility: 0x4 /* GPUShaderStage.COMPUTE */, buffer: { type } });
      }
      const maxGroup = Math.max(-1, ...groups.keys());
      const bindGroupLayouts: GPUBindGroupLayout[] = [];
      for (let g = 0; g <= maxGroup; g++) {
        bindGroupLayouts.push(device.createBindGroupLayout({ label: `${this.name}/group${g}`, entries: groups.get(g) ?? [] }));
      }
      const module = device.createShaderModule({ label: this.name, code: this.code });
      perDevice = { bindGroupLayouts, module, pipelines: new Map() };
      this.layouts.set(device, perDevice);
    }
    for (const key of Object.keys(constants)) {
      if (!this.overrides.has(key)) throw new KernelSourceError(`kernel ${this.name}: no override constant '${key}'`);
    }
    const key = JSON.stringify(constants);
    let pipeline = perDevice.pipelines.get(key);
    if (!pipeline) {
      pipeline = device.createComputePipeline({
        label: this.name,
        layout: device.createPipelineLayout({ bindGroupLayouts: perDevice.bindGroupLayouts }),
        compute: { module: perDevice.module, entryPoint: this.entryPoint, constants: { ...constants } },
      });
      perDevice.pipelines.set(key, pipeline);
    }
    return { pipeline, bindGroupLayouts: perDevice.bindGroupLayouts };
  }
}

/**
 * Writes a uniform struct's values at `base` in `view`, using the reflected member layout.
 * @throws Error naming the kernel and member when a value is missing, extra or of the wrong length
 */
export function packUniform(kernel: string, info: UniformBindingInfo, values: UniformValues, view: DataView, base: number): void {
  for (const key of Object.keys(values)) {
    if (!info.members.some((m) => m.name === key)) throw new Error(`kernel ${kernel}: uniform ${info.name} has no member '${key}'`);
  }
  for (const m of info.members) {
    const v = values[m.name];
    if (v === undefined) {
      if (m.name.startsWith('_')) continue; // padding members stay zero
      throw new Error(`kernel ${kernel}: uniform ${info.name}.${m.name} not given`);
    }
    const flat = typeof v === 'number' ? [v] : v;
    const n = m.components * m.count;
    if (flat.length > n || (typeof v === 'number' && n !== 1)) {
      throw new Error(`kernel ${kernel}: uniform ${info.name}.${m.name} takes ${n} values, got ${flat.length}`);
    }
    for (let i = 0; i < flat.length; i++) {
      const element = Math.floor(i / m.components);
      const at = base + m.offset + element * m.stride + (i % m.components) * 4;
      const x = flat[i]!;
      if (m.scalar === 'f32') view.setFloat32(at, x, true);
      else if (m.scalar === 'i32') view.setInt32(at, x, true);
      else view.setUint32(at, x >>> 0, true);
    }
  }
}
