import { expect } from 'chai';
import { accuracy, averageRanks, computeMetrics, f1, macroF1, pearson, spearman } from '../../data/metrics.ts';

describe('metrics', () => {
  // preds vs labels: TP at 0 and 2, FN at 1, FP at 3, TN at 4.
  const preds = [1, 0, 1, 1, 0];
  const labels = [1, 1, 1, 0, 0];

  it('accuracy', () => {
    expect(accuracy(preds, labels)).to.equal(3 / 5);
    expect(accuracy(new Int32Array([2, 2]), new Float64Array([2, 1]))).to.equal(0.5);
    expect(accuracy([], [])).to.be.NaN;
  });

  it('binary F1 of class 1', () => {
    // TP 2, FP 1, FN 1: 2·2 / (2·2 + 1 + 1) = 2/3.
    expect(f1(preds, labels)).to.be.closeTo(2 / 3, 1e-15);
    expect(f1([0, 0], [0, 0])).to.equal(0); // no positives at all: 0, as scikit-learn
    expect(f1([1, 1], [1, 1])).to.equal(1);
  });

  it('macro F1 over the classes in labels ∪ predictions', () => {
    // class 0: TP 1, FP 1, FN 1 → 1/2; class 1: 2/3 → mean 7/12.
    expect(macroF1(preds, labels)).to.be.closeTo(7 / 12, 1e-15);
    // class 2 appears only in predictions: class 0 F1 1, class 1 (TP 1, FN 2) 1/2, class 2 (FP 2) 0.
    expect(macroF1([0, 1, 2, 2], [0, 1, 1, 1])).to.be.closeTo(0.5, 1e-15);
    // a class in neither does not count: labels/preds use only 3 and 5.
    expect(macroF1([3, 5, 5], [3, 5, 3])).to.be.closeTo((2 / 3 + 2 / 3) / 2, 1e-15);
  });

  it('Pearson', () => {
    // x̄ 2.5, ȳ 5: Σdxdy 11, Σdx² 5, Σdy² 26 → 11 / √130.
    expect(pearson([1, 2, 3, 4], [2, 4, 5, 9])).to.be.closeTo(11 / Math.sqrt(130), 1e-15);
    expect(pearson([1, 2, 3], [3, 2, 1])).to.be.closeTo(-1, 1e-15);
    expect(pearson([1, 2, 3], [10, 20, 30])).to.equal(1);
  });

  it('average ranks with ties', () => {
    expect(Array.from(averageRanks([10, 20, 10, 30, 20, 20]))).to.deep.equal([1.5, 4, 1.5, 6, 4, 4]);
    expect(Array.from(averageRanks([3, 1, 2]))).to.deep.equal([3, 1, 2]);
  });

  it('Spearman: Pearson of average ranks', () => {
    // ranks x [1, 2.5, 2.5, 4], y [1, 3, 2, 4]: Σdxdy 4.5, Σdx² 4.5, Σdy² 5 → 4.5 / √22.5.
    expect(spearman([1, 2, 2, 3], [1, 3, 2, 4])).to.be.closeTo(4.5 / Math.sqrt(22.5), 1e-15);
    // monotone but non-linear: 1
    expect(spearman([1, 2, 3, 4], [1, 8, 27, 64])).to.be.closeTo(1, 1e-15);
    expect(spearman([4, 3, 2, 1], [1, 8, 27, 64])).to.be.closeTo(-1, 1e-15);
  });

  it('correlations of a constant vector (or of < 2 values) are NaN', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).to.be.NaN;
    expect(pearson([1, 2, 3], [2, 2, 2])).to.be.NaN;
    expect(spearman([5, 5, 5], [1, 2, 3])).to.be.NaN;
    expect(pearson([1], [1])).to.be.NaN;
  });

  it('computeMetrics by name, and its errors', () => {
    expect(computeMetrics(['accuracy', 'f1'], preds, labels)).to.deep.equal({ accuracy: 0.6, f1: f1(preds, labels) });
    const r = computeMetrics(['pearson', 'spearman'], [0.5, 2, 3.1, 4.9], [1, 2, 3, 5]);
    expect(Object.keys(r)).to.deep.equal(['pearson', 'spearman']);
    expect(r['spearman']).to.equal(1);
    expect(() => computeMetrics(['mcc'], [1], [1])).to.throw('unknown metric "mcc" (known: accuracy, f1, macro_f1, pearson, spearman)');
    expect(() => accuracy([1, 0], [1])).to.throw('accuracy: 2 predictions for 1 labels');
    expect(() => pearson([1, 2], [1, NaN])).to.throw('pearson: label 1 is NaN');
  });
});
