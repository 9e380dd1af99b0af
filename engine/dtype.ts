/** Element types of tensors: f32 for values, i32/u32 for ids and indices. All are 4 bytes. */
export type DType = 'f32' | 'i32' | 'u32';

export const BYTES_PER_ELEMENT = 4;

export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

export function typedArray(dtype: DType, buffer: ArrayBuffer, length?: number): Float32Array | Int32Array | Uint32Array {
  if (dtype === 'f32') return new Float32Array(buffer, 0, length);
  if (dtype === 'i32') return new Int32Array(buffer, 0, length);
  return new Uint32Array(buffer, 0, length);
}
