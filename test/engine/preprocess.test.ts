import { expect } from 'chai';
import { KernelSourceError, preprocess } from '../../engine/runtime/kernel.ts';

describe('kernel preprocessor', () => {
  it('#unroll repeats a block with the index substituted, nested, with counts from templates', () => {
    const src = ['a', '#unroll i {{N}} / 2', 'x{{i}} = {{V}};', '  #unroll j {{i}} + 1', '  y{{i}}_{{j}};', '  #end', '#end', 'b'].join('\n');
    expect(preprocess('t', src, {}, { N: 5, V: 'q' }).split('\n')).to.deep.equal(['a', 'x0 = q;', '  y0_0;', 'x1 = q;', '  y1_0;', '  y1_1;', 'b']);
    expect(preprocess('t', '#unroll k (2 + 1) * 2 % 4\n{{k}}\n#end', {}, {})).to.equal('0\n1');
    expect(preprocess('t', '#unroll k 0\nnever\n#end\nafter', {}, {})).to.equal('after');
  });

  it('rejects unterminated blocks, stray #end, bad counts and loop variables that shadow templates', () => {
    expect(() => preprocess('t', '#unroll i 2\nx', {}, {})).to.throw(KernelSourceError, /kernel t: #unroll i has no #end/);
    expect(() => preprocess('t', 'x\n#end', {}, {})).to.throw(KernelSourceError, /#end without #unroll/);
    expect(() => preprocess('t', '#unroll i 2.5\nx\n#end', {}, {})).to.throw(KernelSourceError, /count "2.5" is not an integer expression/);
    expect(() => preprocess('t', '#unroll i 1 - 3\nx\n#end', {}, {})).to.throw(KernelSourceError, /not an integer expression/);
    expect(() => preprocess('t', '#unroll i {{M}}\nx\n#end', {}, {})).to.throw(KernelSourceError, /template \{\{M\}\} has no value/);
    expect(() => preprocess('t', '#unroll N 2\nx\n#end', {}, { N: 1 })).to.throw(KernelSourceError, /variable N is also a template value/);
  });
});
