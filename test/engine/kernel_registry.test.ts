import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as E from '../../engine/index.ts';
import { CORE_LIBRARY, K } from '../../engine/kernels/index.ts';
import { BERT_KERNELS } from '../../models/kernels/index.ts';
import { PRUNING_KERNELS } from '../../pruning/kernels/index.ts';
import { useTestEngine } from '../helpers.ts';

const ROOT = join(import.meta.dirname, '../..');

/** Every .wgsl file of the project (outside node_modules, dist and dot folders), relative to the root. */
function wgslFiles(dir = ROOT): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...wgslFiles(p));
    else if (entry.name.endsWith('.wgsl')) out.push(relative(ROOT, p));
  }
  return out;
}

describe('kernel registry @gpu', () => {
  before(useTestEngine);
  const handles = [...Object.values(K), ...Object.values(BERT_KERNELS), ...Object.values(PRUNING_KERNELS)];

  it('defines every kernel file exactly once, and every library file is included by some kernel', () => {
    const files = wgslFiles();
    expect(files.length).to.be.greaterThan(30);
    for (const f of files) {
      const source = readFileSync(join(ROOT, f), 'utf8');
      if (f.includes('/lib/')) {
        const key = `lib/${f.split('/lib/')[1]}`;
        const users = handles.filter((h) => (h.library[key] === source || CORE_LIBRARY[key] === source) && h.source.includes(`#include "${key}"`));
        const nested = [...Object.values(CORE_LIBRARY), ...handles.flatMap((h) => Object.values(h.library))].some((lib) => lib.includes(`#include "${key}"`));
        expect(users.length > 0 || nested, `${f} is included by no kernel`).to.equal(true);
      } else {
        const owners = handles.filter((h) => h.source === source);
        expect(owners.map((h) => h.name), `${f}: defined by`).to.have.length(1);
        expect(owners[0]!.name, f).to.equal(f.split('/').pop()!.replace(/\.wgsl$/, ''));
      }
    }
    expect(E.definedKernels().size).to.equal(handles.length);
  });

  it('refuses a second definition of a name with another source, and accepts the same source again', () => {
    expect(E.defineKernel('fill', K.fill.source)).to.equal(K.fill);
    expect(() => E.defineKernel('fill', '@compute @workgroup_size(1) fn main() {}')).to.throw(/kernel 'fill' is defined twice/);
  });

  it('names the kernel when a launch binds a tensor the WGSL does not declare', () => {
    const x = E.zeros([4]);
    expect(() => E.launch(K.fill, { defines: { T: 'f32' }, tensors: { nope: null }, workgroups: [1] })).to.throw(/kernel fill: no storage binding 'nope'/);
    x.dispose();
  });
});
