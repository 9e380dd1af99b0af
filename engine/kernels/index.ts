/**
 * The engine's own kernels (generic tensor ops, optimizer steps) as typed handles, and the core
 * include library every kernel may `#include` (engine/kernels/lib/). Kernels of models and pruning
 * methods are defined by their owners (models/kernels/, pruning/kernels/) with defineKernel().
 * test/engine/kernel_registry.test.ts checks that every .wgsl file of the project is defined once.
 */
import { defineKernel } from '../runtime/kernel_registry.ts';
import libGemmTile from './lib/gemm_tile.wgsl';
import libMath from './lib/math.wgsl';
import libPhilox from './lib/philox.wgsl';
import libStrided from './lib/strided.wgsl';
import libWorkgroupReduce from './lib/workgroup_reduce.wgsl';
import accumulateSource from './accumulate.wgsl';
import adamwSource from './adamw.wgsl';
import clipScaleSource from './clip_scale.wgsl';
import binarySource from './binary.wgsl';
import copyStridedSource from './copy_strided.wgsl';
import fillSource from './fill.wgsl';
import finiteWatchSource from './finite_watch.wgsl';
import matmulSource from './matmul.wgsl';
import reduceMaxSource from './reduce_max.wgsl';
import reduceMaxBackwardSource from './reduce_max_backward.wgsl';
import reduceSumColsSource from './reduce_sum_cols.wgsl';
import reduceSumRowsSource from './reduce_sum_rows.wgsl';
import unarySource from './unary.wgsl';
import unaryBackwardSource from './unary_backward.wgsl';
import whereSource from './where.wgsl';
import softmaxSource from './softmax.wgsl';
import softmaxBackwardSource from './softmax_backward.wgsl';
import layerNormSource from './layer_norm.wgsl';
import layerNormBackwardSource from './layer_norm_backward.wgsl';
import layerNormParamGradSource from './layer_norm_param_grad.wgsl';
import dropoutSource from './dropout.wgsl';
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
  'lib/gemm_tile.wgsl': libGemmTile,
  'lib/math.wgsl': libMath,
  'lib/philox.wgsl': libPhilox,
  'lib/strided.wgsl': libStrided,
  'lib/workgroup_reduce.wgsl': libWorkgroupReduce,
};

/** Handles of the engine kernels, by kernel name (the file name without `.wgsl`). */
export const K = {
  accumulate: defineKernel('accumulate', accumulateSource),
  adamw: defineKernel('adamw', adamwSource),
  clipScale: defineKernel('clip_scale', clipScaleSource),
  binary: defineKernel('binary', binarySource),
  copyStrided: defineKernel('copy_strided', copyStridedSource),
  fill: defineKernel('fill', fillSource),
  finiteWatch: defineKernel('finite_watch', finiteWatchSource),
  matmul: defineKernel('matmul', matmulSource),
  reduceMax: defineKernel('reduce_max', reduceMaxSource),
  reduceMaxBackward: defineKernel('reduce_max_backward', reduceMaxBackwardSource),
  reduceSumCols: defineKernel('reduce_sum_cols', reduceSumColsSource),
  reduceSumRows: defineKernel('reduce_sum_rows', reduceSumRowsSource),
  unary: defineKernel('unary', unarySource),
  unaryBackward: defineKernel('unary_backward', unaryBackwardSource),
  where: defineKernel('where', whereSource),
  softmax: defineKernel('softmax', softmaxSource),
  softmaxBackward: defineKernel('softmax_backward', softmaxBackwardSource),
  layerNorm: defineKernel('layer_norm', layerNormSource),
  layerNormBackward: defineKernel('layer_norm_backward', layerNormBackwardSource),
  layerNormParamGrad: defineKernel('layer_norm_param_grad', layerNormParamGradSource),
  dropout: defineKernel('dropout', dropoutSource),
  indexSelect: defineKernel('index_select', indexSelectSource),
  indexSelectBackward: defineKernel('index_select_backward', indexSelectBackwardSource),
  gather: defineKernel('gather', gatherSource),
  gatherBackward: defineKernel('gather_backward', gatherBackwardSource),
  crossEntropy: defineKernel('cross_entropy', crossEntropySource),
  crossEntropyBackward: defineKernel('cross_entropy_backward', crossEntropyBackwardSource),
  ...F16_KERNELS,
} as const;
