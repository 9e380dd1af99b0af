/**
 * Element types of tensors: f32 for values, i32/u32 for ids and indices (4 bytes each), and f16
 * (IEEE binary16, 2 bytes) for inference weights and activations. f16 tensors need the adapter's
 * 'shader-f16' feature (engine/context.ts refuses their kernels without it) and have no autograd.
 */
export type DType = 'f32' | 'i32' | 'u32' | 'f16';

/** Float types a model can run inference in (`--dtype`): the one notion of precision for eval, bench and export. */
export const INFERENCE_DTYPES = ['f32', 'f16'] as const;
export type InferenceDType = (typeof INFERENCE_DTYPES)[number];

/** Bytes of one element of a 4-byte dtype (f32, i32, u32). */
export const BYTES_PER_ELEMENT = 4;

/** Bytes of one element of `dtype`. */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

/**
 * Bytes a buffer of `n` elements of `dtype` binds: rounded up to a multiple of 4 (WebGPU's binding
 * granularity), and at least 4 (an empty tensor still binds one word).
 */
export function storageBytes(dtype: DType, n: number): number {
  return Math.max(4, Math.ceil((n * bytesPerElement(dtype)) / 4) * 4);
}

export type TypedArrayFor<D extends DType> = D extends 'f32' | 'f16' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

/** A typed view of a 4-byte dtype's elements (f16 tensors are widened on the GPU before reading). */
export function typedArray(dtype: DType, buffer: ArrayBuffer, length?: number): Float32Array | Int32Array | Uint32Array {
  if (dtype === 'f16') throw new Error('typedArray: f16 data has no host view; widen it to f32 first');
  if (dtype === 'f32') return new Float32Array(buffer, 0, length);
  if (dtype === 'i32') return new Int32Array(buffer, 0, length);
  return new Uint32Array(buffer, 0, length);
}
