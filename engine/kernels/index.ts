/**
 * The engine's own kernels (generic tensor ops, optimizer steps) as typed handles, and the core
 * include library every kernel may `#include` (engine/kernels/lib/). Kernels of models and pruning
 * methods are defined by their owners (models/kernels/, pruning/kernels/) with defineKernel().
 * test/engine/kernel_registry.test.ts checks that every .wgsl file of the project is defined once.
 */
import { defineKernel } from '../runtime/kernel_registry.ts';
import libAdamwParams from './lib/adamw_params.wgsl';
import libFiniteFlag from './lib/finite_flag.wgsl';
import libGemmCpu from './lib/gemm_cpu.wgsl';
import libGemmTile from './lib/gemm_tile.wgsl';
import libMath from './lib/math.wgsl';
import libPhilox from './lib/philox.wgsl';
import libStrided from './lib/strided.wgsl';
import libStridedVec4 from './lib/strided_vec4.wgsl';
import libUnaryOps from './lib/unary_ops.wgsl';
import libBinaryOps from './lib/binary_ops.wgsl';
import libWorkgroupReduce from './lib/workgroup_reduce.wgsl';
import accumulateSource from './accumulate.wgsl';
import accumulateCpuSource from './accumulate_cpu.wgsl';
import adamwSource from './adamw.wgsl';
import adamwCpuSource from './adamw_cpu.wgsl';
import clipScaleSource from './clip_scale.wgsl';
import sumSquaresCpuSource from './sum_squares_cpu.wgsl';
import binarySource from './binary.wgsl';
import binaryCpuSource from './binary_cpu.wgsl';
import copyStridedSource from './copy_strided.wgsl';
import fillSource from './fill.wgsl';
import finiteWatchSource from './finite_watch.wgsl';
import matmulSource from './matmul.wgsl';
import matmulCpuSource from './matmul_cpu.wgsl';
import reduceMaxSource from './reduce_max.wgsl';
import reduceMaxBackwardSource from './reduce_max_backward.wgsl';
import reduceSumColsSource from './reduce_sum_cols.wgsl';
import reduceSumColsCpuSource from './reduce_sum_cols_cpu.wgsl';
import reduceSumRowsSource from './reduce_sum_rows.wgsl';
import reduceSumRowsCpuSource from './reduce_sum_rows_cpu.wgsl';
import unarySource from './unary.wgsl';
import unaryCpuSource from './unary_cpu.wgsl';
import unaryBackwardSource from './unary_backward.wgsl';
import unaryBackwardCpuSource from './unary_backward_cpu.wgsl';
import whereSource from './where.wgsl';
import whereCpuSource from './where_cpu.wgsl';
import softmaxSource from './softmax.wgsl';
import softmaxCpuSource from './softmax_cpu.wgsl';
import softmaxRowsCpuSource from './softmax_rows_cpu.wgsl';
import softmaxBackwardSource from './softmax_backward.wgsl';
import softmaxBackwardCpuSource from './softmax_backward_cpu.wgsl';
import layerNormSource from './layer_norm.wgsl';
import layerNormCpuSource from './layer_norm_cpu.wgsl';
import layerNormBackwardSource from './layer_norm_backward.wgsl';
import layerNormBackwardCpuSource from './layer_norm_backward_cpu.wgsl';
import layerNormParamGradSource from './layer_norm_param_grad.wgsl';
import layerNormParamGradCpuSource from './layer_norm_param_grad_cpu.wgsl';
import dropoutSource from './dropout.wgsl';
import dropoutCpuSource from './dropout_cpu.wgsl';
import indexSelectSource from './index_select.wgsl';
import indexSelectBackwardSource from './index_select_backward.wgsl';
import gatherSource from './gather.wgsl';
import gatherBackwardSource from './gather_backward.wgsl';
import crossEntropySource from './cross_entropy.wgsl';
import crossEntropyBackwardSource from './cross_entropy_backward.wgsl';
// f16 inference kernels (engine/ops/f16.ts), defined in their own table and spread into K.
import { F16_KERNELS } from './f16/index.ts';

/** Include files every kernel can use, by the path written in `#include "..."`. */
export const CORE_LIBRARY: Readonly<Record<string, string>> = {
  'lib/adamw_params.wgsl': libAdamwParams,
  'lib/finite_flag.wgsl': libFiniteFlag,
  'lib/gemm_cpu.wgsl': libGemmCpu,
  'lib/gemm_tile.wgsl': libGemmTile,
  'lib/math.wgsl': libMath,
  'lib/philox.wgsl': libPhilox,
  'lib/strided.wgsl': libStrided,
  'lib/strided_vec4.wgsl': libStridedVec4,
  'lib/unary_ops.wgsl': libUnaryOps,
  'lib/binary_ops.wgsl': libBinaryOps,
  'lib/workgroup_reduce.wgsl': libWorkgroupReduce,
};

/** Handles of the engine kernels, by kernel name (the file name without `.wgsl`). */
export const K = {
  accumulate: defineKernel('accumulate', accumulateSource),
  accumulateCpu: defineKernel('accumulate_cpu', accumulateCpuSource),
  adamw: defineKernel('adamw', adamwSource),
  adamwCpu: defineKernel('adamw_cpu', adamwCpuSource),
  clipScale: defineKernel('clip_scale', clipScaleSource),
  sumSquaresCpu: defineKernel('sum_squares_cpu', sumSquaresCpuSource),
  binary: defineKernel('binary', binarySource),
  binaryCpu: defineKernel('binary_cpu', binaryCpuSource),
  copyStrided: defineKernel('copy_strided', copyStridedSource),
  fill: defineKernel('fill', fillSource),
  finiteWatch: defineKernel('finite_watch', finiteWatchSource),
  matmul: defineKernel('matmul', matmulSource),
  matmulCpu: defineKernel('matmul_cpu', matmulCpuSource),
  reduceMax: defineKernel('reduce_max', reduceMaxSource),
  reduceMaxBackward: defineKernel('reduce_max_backward', reduceMaxBackwardSource),
  reduceSumCols: defineKernel('reduce_sum_cols', reduceSumColsSource),
  reduceSumColsCpu: defineKernel('reduce_sum_cols_cpu', reduceSumColsCpuSource),
  reduceSumRows: defineKernel('reduce_sum_rows', reduceSumRowsSource),
  reduceSumRowsCpu: defineKernel('reduce_sum_rows_cpu', reduceSumRowsCpuSource),
  unary: defineKernel('unary', unarySource),
  unaryCpu: defineKernel('unary_cpu', unaryCpuSource),
  unaryBackward: defineKernel('unary_backward', unaryBackwardSource),
  unaryBackwardCpu: defineKernel('unary_backward_cpu', unaryBackwardCpuSource),
  where: defineKernel('where', whereSource),
  whereCpu: defineKernel('where_cpu', whereCpuSource),
  softmax: defineKernel('softmax', softmaxSource),
  softmaxCpu: defineKernel('softmax_cpu', softmaxCpuSource),
  softmaxRowsCpu: defineKernel('softmax_rows_cpu', softmaxRowsCpuSource),
  softmaxBackward: defineKernel('softmax_backward', softmaxBackwardSource),
  softmaxBackwardCpu: defineKernel('softmax_backward_cpu', softmaxBackwardCpuSource),
  layerNorm: defineKernel('layer_norm', layerNormSource),
  layerNormCpu: defineKernel('layer_norm_cpu', layerNormCpuSource),
  layerNormBackward: defineKernel('layer_norm_backward', layerNormBackwardSource),
  layerNormBackwardCpu: defineKernel('layer_norm_backward_cpu', layerNormBackwardCpuSource),
  layerNormParamGrad: defineKernel('layer_norm_param_grad', layerNormParamGradSource),
  layerNormParamGradCpu: defineKernel('layer_norm_param_grad_cpu', layerNormParamGradCpuSource),
  dropout: defineKernel('dropout', dropoutSource),
  dropoutCpu: defineKernel('dropout_cpu', dropoutCpuSource),
  indexSelect: defineKernel('index_select', indexSelectSource),
  indexSelectBackward: defineKernel('index_select_backward', indexSelectBackwardSource),
  gather: defineKernel('gather', gatherSource),
  gatherBackward: defineKernel('gather_backward', gatherBackwardSource),
  crossEntropy: defineKernel('cross_entropy', crossEntropySource),
  crossEntropyBackward: defineKernel('cross_entropy_backward', crossEntropyBackwardSource),
  ...F16_KERNELS,
} as const;
