/**
 * Every WGSL source of kernels/, by name (its path without `.wgsl`). Kernels are compiled from
 * here by Engine.kernel(); `#include "lib/x.wgsl"` resolves against the `lib/` entries.
 * test/engine/kernels.test.ts checks that each .wgsl file of this folder is listed.
 */
import libMath from './lib/math.wgsl';
import libPhilox from './lib/philox.wgsl';
import libStrided from './lib/strided.wgsl';
import accumulate from './accumulate.wgsl';
import binary from './binary.wgsl';
import copyStrided from './copy_strided.wgsl';
import fill from './fill.wgsl';
import matmul from './matmul.wgsl';
import reduceMax from './reduce_max.wgsl';
import reduceMaxBackward from './reduce_max_backward.wgsl';
import reduceSumCols from './reduce_sum_cols.wgsl';
import reduceSumRows from './reduce_sum_rows.wgsl';
import unary from './unary.wgsl';
import unaryBackward from './unary_backward.wgsl';
import where from './where.wgsl';

export const KERNEL_SOURCES: Readonly<Record<string, string>> = {
  'lib/math.wgsl': libMath,
  'lib/philox.wgsl': libPhilox,
  'lib/strided.wgsl': libStrided,
  accumulate,
  binary,
  copy_strided: copyStrided,
  fill,
  matmul,
  reduce_max: reduceMax,
  reduce_max_backward: reduceMaxBackward,
  reduce_sum_cols: reduceSumCols,
  reduce_sum_rows: reduceSumRows,
  unary,
  unary_backward: unaryBackward,
  where,
};
