/** The layering the README describes: the engine is generic, and tests reach jobs without the CLI. */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..');

function files(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

describe('architecture', () => {
  it('no file under engine/ mentions BERT, CoFi, head_z or hard concrete', () => {
    for (const f of files('engine', /\.(ts|wgsl)$/)) {
      const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
      expect(text.match(/\bbert\b|cofi|head_?z|hard[ -]concrete/i)?.[0], f).to.equal(undefined);
    }
  });

  it('no test imports cli/ (jobs are functions; the CLI is run as a user runs it)', () => {
    for (const f of files('test', /\.ts$/)) {
      const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
      expect(/(from\s+|import\()\s*['"][./]*cli\//.test(text), f).to.equal(false);
    }
  });

  it('jobs know nothing of the CLI', () => {
    for (const f of files('jobs', /\.ts$/)) {
      const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
      expect(/from\s+['"]([./]*cli\/|commander['"])/.test(text), f).to.equal(false);
    }
  });
});
