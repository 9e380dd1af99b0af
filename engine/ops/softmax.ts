/**
 * Softmax and log-softmax over the last axis, with an optional additive mask: softmax.wgsl (a
 * workgroup per row) on GPU adapters; on CPU adapters a row per invocation, held in registers by
 * softmax_rows_cpu.wgsl where the row length allows (cpuRegisterRow), else streamed by
 * softmax_cpu.wgsl.
 */
import { defineOp } from '../autograd.ts';
import { getEngine } from '../context.ts';
import { Tensor, grid1d, shapeString } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { broadcastShapes, broadcastStrides, mergeDims, pack8, sameShape } from './layout.ts';
import { K } from '../kernels/index.ts';

export interface SoftmaxOptions {
  /**
   * Added to x before normalising; broadcasts to x's shape (e.g. [B, 1, 1, S] against attention
   * scores [B, H, S, S]). Use a large negative finite value (−1e9, −3.4e38) to exclude a position:
   * −Infinity on a fully masked row gives NaN. The mask takes no gradient (it is a constant of
   * the data, as in transformers).
   */
  mask?: Tensor;
}

interface Attrs {
  log: boolean;
}

/** Rows per workgroup of the CPU kernels (their workgroup size: a row per invocation). */
const CPU_ROWS_PER_WORKGROUP = 64;

/**
 * Longest row softmax_rows_cpu.wgsl holds in registers (elements). Its loops are unrolled, so
 * llvmpipe's compile time grows with the row: measured cold (MESA_SHADER_CACHE_DISABLE=true, under
 * load) 5.6 s for a pipeline of 128 and 25.5 s for 256, once per (length, LOG, mask) combination
 * and then kept in Mesa's shader cache. Longer rows stream through softmax_cpu.wgsl.
 */
export const CPU_REGISTER_ROW_MAX = 128;

/**
 * Whether softmax_rows_cpu.wgsl takes rows of `cols`: the adapter has a fixed subgroup size SG,
 * and cols is a multiple of 4·SG of at most CPU_REGISTER_ROW_MAX.
 */
export function cpuRegisterRow(cols: number, subgroupSize: number | null): boolean {
  return subgroupSize !== null && cols > 0 && cols % (4 * subgroupSize) === 0 && cols <= CPU_REGISTER_ROW_MAX;
}

/**
 * Whether every aligned block of `block` consecutive rows adds one and the same mask row: the mask
 * has a single row, or it does not vary along the innermost merged lead dimension (stride 0) and
 * that dimension's size is a multiple of `block`.
 * @param lead the lead dimensions of x merged with the mask's strides (mergeDims)
 */
export function maskRowSharedByBlocks(lead: { shape: readonly number[]; strides: readonly (readonly number[])[] }, block: number): boolean {
  const strides = lead.strides[0]!;
  if (strides.every((s) => s === 0)) return true;
  const d = lead.shape.length - 1;
  return strides[d] === 0 && lead.shape[d]! % block === 0;
}

function rowsOf(x: Tensor): [number, number] {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return [cols === 0 ? 0 : x.size / cols, cols];
}

const softmaxOp = defineOp<Attrs>({
  name: 'softmax',
  forward([x, mask], { log }) {
    if (x!.shape.length === 0) throw new Error(`softmax: ${x!.label} is a scalar`);
    const [rows, cols] = rowsOf(x!);
    const y = Tensor.empty(x!.shape, 'f32', log ? 'log_softmax#' : 'softmax#');
    let lead = { shape: [1], strides: [[0]] };
    let maskCols = cols;
    let maskShared = false;
    if (mask) {
      if (!sameShape(broadcastShapes('softmax mask', mask.shape, x!.shape), x!.shape)) {
        throw new Error(`softmax: mask ${mask.label} ${shapeString(mask.shape)} does not broadcast to ${shapeString(x!.shape)}`);
      }
      const strides = broadcastStrides(mask.shape, x!.shape);
      maskCols = strides[strides.length - 1] === 0 ? 1 : cols;
      lead = mergeDims(x!.shape.slice(0, -1), [strides.slice(0, -1)]);
      maskShared = maskCols === cols && maskRowSharedByBlocks(lead, CPU_ROWS_PER_WORKGROUP);
    }
    const engine = getEngine();
    const cpu = engine.deviceClass === 'cpu';
    const params = { rows, cols, lead_rank: lead.shape.length, mask_cols: maskCols, lead_shape: pack8(lead.shape, 'softmax'), mask_strides: pack8(lead.strides[0]!, 'softmax') };
    if (cpu && rows > 0 && cpuRegisterRow(cols, engine.subgroupSize)) {
      launch(K.softmaxRowsCpu, {
        defines: { ROW4: cols / 4, SG: engine.subgroupSize! },
        constants: { LOG: log ? 1 : 0, HAS_MASK: mask ? 1 : 0, MASK_SHARED: maskShared ? 1 : 0 },
        tensors: { x: x!, mask: mask ?? null, y },
        uniforms: { params },
        workgroups: grid1d(rows, CPU_ROWS_PER_WORKGROUP),
      });
      return { output: y, saved: undefined };
    }
    const [gx, gy] = cpu ? grid1d(rows, 64) : grid1d(rows, 1);
    launch(cpu ? K.softmaxCpu : K.softmax, {
      constants: { LOG: log ? 1 : 0, HAS_MASK: mask ? 1 : 0 },
      tensors: { x: x!, mask: mask ?? null, y },
      uniforms: { params },
      workgroups: [gx, gy],
    });
    return { output: y, saved: undefined };
  },
  backward({ inputs: [x], output, attrs: { log } }, dy) {
    const [rows, cols] = rowsOf(x!);
    const dx = Tensor.empty(x!.shape);
    const cpu = getEngine().deviceClass === 'cpu';
    const [gx, gy] = cpu ? grid1d(rows, 64) : grid1d(rows, 1);
    launch(cpu ? K.softmaxBackwardCpu : K.softmaxBackward, {
      constants: { LOG: log ? 1 : 0 },
      tensors: { y: output, dy, dx },
      uniforms: { params: { rows, cols } },
      workgroups: [gx, gy],
    });
    return [dx, null];
  },
});

/**
 * softmax(x + mask) over the last axis.
 * @throws Error when x is a scalar or the mask does not broadcast
 */
export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  return softmaxOp(options.mask ? [x, options.mask] : [x], { log: false });
}

/** log softmax(x + mask) over the last axis, computed as x − max − log Σ exp(x − max). */
export function logSoftmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  return softmaxOp(options.mask ? [x, options.mask] : [x], { log: true });
}
