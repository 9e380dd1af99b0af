/**
 * Reverse-mode automatic differentiation.
 *
 * Every op is defined by defineOp(): a forward that launches kernels, and a backward that maps
 * the gradient of the output to gradients of the inputs. When gradients are enabled and an input
 * requires one, the op records a GradNode on its output. Node ids grow with creation, so the
 * recorded nodes form a tape; backward() replays the part of it that reaches the loss in
 * decreasing id order, which is a reverse topological order.
 *
 * Custom ops of models and pruning methods (fused kernels, random masks) use the same defineOp().
 */
import { getEngine } from './context.ts';
import { full } from './creation.ts';
import { keep } from './scope.ts';
import { Tensor, grid1d, shapeString, vec4Grid } from './tensor.ts';
import { K } from './kernels/index.ts';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Sets whether ops record nodes; returns the previous setting. */
export function setGradEnabled(enabled: boolean): boolean {
  const previous = gradEnabled;
  gradEnabled = enabled;
  return previous;
}

/** Runs `fn` without recording autograd nodes. */
export function noGrad<T>(fn: () => T): T {
  const previous = setGradEnabled(false);
  try {
    return fn();
  } finally {
    setGradEnabled(previous);
  }
}

/** One recorded op application. */
export interface GradNode {
  /** Equals the output tensor's id: the node's place on the tape. */
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  /** Gradients of the inputs (null where an input needs none) from the output's gradient. */
  backward(grad: Tensor): readonly (Tensor | null)[];
}

/** What an op's backward receives besides the output gradient. */
export interface OpContext<Attrs, Saved> {
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly attrs: Attrs;
  readonly saved: Saved;
}

export interface OpDefinition<Attrs, Saved> {
  name: string;
  /** Launches the kernels. Runs with gradients disabled. */
  forward(inputs: readonly Tensor[], attrs: Attrs): { output: Tensor; saved: Saved };
  /**
   * Input gradients, each of its input's shape, or null for inputs that need none (check
   * `ctx.inputs[i].requiresGrad` to skip work). Runs with gradients disabled.
   * Omitted for ops without a gradient (comparisons, integer outputs): their outputs never
   * require one.
   */
  backward?(ctx: OpContext<Attrs, Saved>, grad: Tensor): readonly (Tensor | null)[];
}

/**
 * Turns a forward/backward pair into a differentiable op `(inputs, attrs) => output`.
 * @throws Error (when called) if an input was disposed
 */
export function defineOp<Attrs = undefined, Saved = undefined>(def: OpDefinition<Attrs, Saved>): (inputs: readonly Tensor[], attrs: Attrs) => Tensor {
  return (inputs, attrs) => {
    for (const t of inputs) {
      if (t.disposed) throw new Error(`${def.name}: input ${t.label} ${shapeString(t.shape)} was disposed`);
    }
    const { output, saved } = noGrad(() => def.forward(inputs, attrs));
    // Ops without a backward (comparisons, integer outputs) give outputs that take no gradient,
    // as in PyTorch.
    const backwardFn = def.backward;
    if (backwardFn && gradEnabled && inputs.some((t) => t.requiresGrad)) {
      output.requiresGrad = true;
      const ctx: OpContext<Attrs, Saved> = { inputs, output, attrs, saved };
      output.node = {
        id: output.id,
        op: def.name,
        inputs,
        output,
        backward: (grad) => backwardFn(ctx, grad),
      };
    }
    return output;
  };
}

/**
 * Backpropagates from `loss`, accumulating into `.grad` of every leaf that requires a gradient
 * (leaves are tensors with requiresGrad and no node: parameters). Intermediate gradients are
 * disposed as soon as they are used.
 *
 * Call it in the scope that ran the forward pass: nodes use the tensors the forward saved.
 * @param grad gradient of the loss; defaults to 1 for a one-element loss
 * @throws Error when the loss needs no gradient, is not one element and no grad is given, or an op
 *   returns a gradient of the wrong shape
 */
export function backward(loss: Tensor, grad?: Tensor): void {
  if (!loss.requiresGrad) throw new Error(`backward(): ${loss.label} does not require a gradient`);
  if (!grad && loss.size !== 1) throw new Error(`backward(): ${loss.label} has shape ${shapeString(loss.shape)}; pass its gradient`);
  const seed = grad ?? full(loss.shape, 1);

  // Collect the nodes that reach the loss.
  const nodes: GradNode[] = [];
  const seen = new Set<number>();
  const stack: Tensor[] = [loss];
  while (stack.length) {
    const node = stack.pop()!.node;
    if (!node || seen.has(node.id)) continue;
    seen.add(node.id);
    nodes.push(node);
    for (const input of node.inputs) if (input.requiresGrad) stack.push(input);
  }
  nodes.sort((a, b) => b.id - a.id);

  const pending = new Map<Tensor, Tensor>([[loss, seed]]);
  noGrad(() => {
    for (const node of nodes) {
      const g = pending.get(node.output);
      if (!g) continue;
      pending.delete(node.output);
      const inputGrads = node.backward(g).map((ig, i) => {
        const input = node.inputs[i]!;
        if (!ig || !input.requiresGrad) return null;
        if (ig.size !== input.size || ig.shape.length !== input.shape.length || ig.shape.some((d, k) => d !== input.shape[k])) {
          throw new Error(`${node.op} backward: gradient ${shapeString(ig.shape)} for input ${input.label} ${shapeString(input.shape)}`);
        }
        return ig;
      });
      // An op may pass its output gradient through, even to several inputs (add): give every
      // input its own tensor before any is consumed. The caller's `grad` stays the caller's.
      const claimed = new Set<Tensor>(grad ? [grad] : []);
      for (let i = 0; i < inputGrads.length; i++) {
        const ig = inputGrads[i];
        if (!ig) continue;
        if (claimed.has(ig)) inputGrads[i] = copyTensor(ig);
        else claimed.add(ig);
      }
      node.inputs.forEach((input, i) => {
        const ig = inputGrads[i];
        if (!ig) return;
        if (input.node) {
          const acc = pending.get(input);
          if (acc) {
            accumulateInto(acc, ig);
            ig.dispose();
          } else pending.set(input, ig);
        } else {
          accumulateLeafGrad(input, ig);
        }
      });
      if (!claimed.has(g)) g.dispose();
    }
  });
  for (const g of pending.values()) if (g !== grad) g.dispose();
}

/** Adds `g` to leaf.grad (or makes it leaf.grad), keeping it out of every scope. */
export function accumulateLeafGrad(leaf: Tensor, g: Tensor): void {
  if (leaf.grad) {
    accumulateInto(leaf.grad, g);
    g.dispose();
  } else {
    // The gradient must outlive the step's scope: it belongs to the leaf.
    leaf.grad = keep(g);
  }
}

/** A new tensor with the values of `t`. */
function copyTensor(t: Tensor): Tensor {
  const c = Tensor.empty(t.shape, t.dtype);
  getEngine().queue.copy(t.buffer, 0, c.buffer, 0, t.bytes);
  return c;
}

/** dst += src, in place (same size). */
export function accumulateInto(dst: Tensor, src: Tensor): void {
  const engine = getEngine();
  const cpu = engine.deviceClass === 'cpu';
  engine.queue.dispatch(engine.kernel(cpu ? K.accumulateCpu : K.accumulate), {
    buffers: { dst: dst.bind(), src: src.bind() },
    uniforms: { params: { n: dst.size } },
    workgroups: cpu ? vec4Grid(dst.size) : grid1d(dst.size),
  });
}

