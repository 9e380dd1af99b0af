/**
 * Scopes that free the intermediates of a step.
 *
 * Every tensor created while a scope is open is recorded in the innermost scope. When tidy()
 * returns, the tensors of its scope are disposed, except those it returns (they move to the
 * enclosing scope) and those passed to keep(). Parameters and optimizer state are created with
 * keep() or outside any scope and live until disposed explicitly.
 */
import type { Tensor } from './tensor.ts';

const scopes: Set<Tensor>[] = [];

/** Records a new tensor in the innermost open scope (called by the Tensor constructor). */
export function trackTensor(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes `t` from every open scope so that no tidy() disposes it. Returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Anything tidy() may return: tensors, arrays and plain objects of them, or other values. */
export type TidyResult = unknown;

function collectTensors(value: unknown, out: Set<Tensor>, isTensor: (v: unknown) => v is Tensor): void {
  if (isTensor(value)) out.add(value);
  else if (Array.isArray(value)) for (const v of value) collectTensors(v, out, isTensor);
  else if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out, isTensor);
  }
}

let tensorTest: ((v: unknown) => v is Tensor) | null = null;
/** Set by tensor.ts: tells tensors from other values without importing Tensor here (no cycle). */
export function setTensorTest(test: (v: unknown) => v is Tensor): void {
  tensorTest = test;
}

/**
 * Runs `fn` in a new scope and disposes the tensors it created, except those in its result
 * (found in arrays and plain objects) and those kept.
 * @throws Error when `fn` returns a promise: scopes cannot span an await
 */
export function tidy<T extends TidyResult>(fn: () => T): T {
  const scope = startScope();
  let result: T;
  try {
    result = fn();
  } catch (err) {
    endScope(scope);
    throw err;
  }
  if (result instanceof Promise) {
    endScope(scope);
    throw new Error('tidy() takes a synchronous function; use startScope()/endScope() around awaits');
  }
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors, tensorTest!);
  endScope(scope, [...survivors]);
  return result;
}

/** Opens a scope that may span awaits; close it with endScope(). */
export function startScope(): Set<Tensor> {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  return scope;
}

/**
 * Closes a scope from startScope(), disposing its tensors except `survivors`.
 * @throws Error when `scope` is not the innermost open scope
 */
export function endScope(scope: Set<Tensor>, survivors: readonly Tensor[] = []): void {
  if (scopes[scopes.length - 1] !== scope) throw new Error('endScope: scopes must be closed innermost first');
  scopes.pop();
  const keepSet = new Set(survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (keepSet.has(t)) parent?.add(t);
    else t.dispose();
  }
}
