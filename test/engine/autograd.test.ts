import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { useTestEngine } from '../helpers.ts';

describe('autograd and scopes @gpu', () => {
  before(useTestEngine);

  it('accumulates gradients over two backward passes until zeroed', async () => {
    const w = E.parameter([1, 2, 3], [3], 'w');
    const x = E.tensor([4, 5, 6]);
    E.tidy(() => E.backward(E.sum(E.mul(w, x))));
    E.tidy(() => E.backward(E.sum(E.mul(w, x))));
    expect([...(await w.grad!.read())]).to.deep.equal([8, 10, 12]);
    w.dispose();
    expect(w.grad).to.equal(null);
  });

  it('sums gradients of a tensor used twice (add passes one gradient to both inputs)', async () => {
    const w = E.parameter([3], [1], 'w');
    E.tidy(() => E.backward(E.sum(E.add(w, w))));
    expect([...(await w.grad!.read())]).to.deep.equal([2]);
    const v = E.parameter([3], [1], 'v');
    E.tidy(() => E.backward(E.sum(E.mul(E.add(v, v), v)))); // 2v² → 4v
    expect([...(await v.grad!.read())]).to.deep.equal([12]);
  });

  it('records nothing under noGrad', () => {
    const w = E.parameter([1], [1], 'w');
    const y = E.noGrad(() => E.mul(w, w));
    expect(y.requiresGrad).to.equal(false);
    expect(y.node).to.equal(null);
    expect(() => E.backward(y)).to.throw(/does not require a gradient/);
  });

  it('runs a custom op defined with its own forward and backward', async () => {
    // cube(x) = x³ with backward 3x²·g, built from existing ops.
    const cube = E.defineOp<undefined>({
      name: 'cube',
      forward: ([x]) => ({ output: E.mul(E.mul(x!, x!), x!), saved: undefined }),
      backward: ({ inputs: [x] }, g) => [E.mul(g, E.scale(E.square(x!), 3))],
    });
    const w = E.parameter([2, -1], [2], 'w');
    const y = E.tidy(() => {
      const out = cube([w], undefined);
      E.backward(E.sum(out));
      return out;
    });
    expect([...(await y.read())]).to.deep.equal([8, -1]);
    expect([...(await w.grad!.read())]).to.deep.equal([12, 3]);
  });

  it('tidy disposes intermediates but not results or kept tensors', () => {
    let inner: E.Tensor | null = null;
    let kept: E.Tensor | null = null;
    const out = E.tidy(() => {
      inner = E.ones([2]);
      kept = E.keep(E.ones([2]));
      return { y: E.add(inner, inner) };
    });
    expect(inner!.disposed).to.equal(true);
    expect(kept!.disposed).to.equal(false);
    expect(out.y.disposed).to.equal(false);
    expect(() => E.add(inner!, inner!)).to.throw(/was disposed/);
  });

  it('tidy refuses async functions and disposes what they made', () => {
    expect(() => E.tidy(async () => E.ones([1]))).to.throw(/synchronous/);
  });

  it('storage returns to the pool only when its last view is disposed', () => {
    const engine = E.getEngine();
    const before = engine.memory().inUseBytes;
    const x = E.ones([1000]);
    const v = x.view([10, 100]);
    x.dispose();
    expect(engine.memory().inUseBytes).to.be.greaterThan(before);
    v.dispose();
    expect(engine.memory().inUseBytes).to.equal(before);
  });
});

describe('kernel bindings @gpu', () => {
  before(useTestEngine);

  it('rejects a binding of the wrong element type, naming kernel and tensor', () => {
    const ids = E.tensor([1, 2], [2], 'i32', 'ids');
    expect(() => E.exp(ids)).to.throw(/exp: ids is i32, expected f32/);
  });
});
