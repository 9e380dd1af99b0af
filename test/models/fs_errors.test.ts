import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { configToJson, namedConfig, withLabels } from '../../models/config.ts';
import { writeFileAtomic } from '../../models/io/atomic.ts';
import { expectedTensors, loadCheckpoint, saveCheckpoint } from '../../models/io/checkpoint.ts';
import { FileSystemError, makeDirectory } from '../../models/io/fs_errors.ts';
import { SafetensorsError, readSafetensors } from '../../models/io/safetensors.ts';
import { skipBecause } from '../helpers.ts';

describe('file-system errors name the path and what was being done', () => {
  let root: string;
  const mounts: string[] = [];
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-fserr-'));
  });
  after(() => {
    for (const m of mounts) spawnSync('umount', [m]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  const mount = (dir: string, options: string): boolean => {
    fs.mkdirSync(dir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
      mounts.push(dir);
      return true;
    } catch {
      return false;
    }
  };

  it('reading: a missing file, a directory', () => {
    const missing = path.join(root, 'none.safetensors');
    expect(() => readSafetensors(missing)).to.throw(SafetensorsError, `${missing}: cannot read the file: no such file or directory (ENOENT)`);
    expect(() => readSafetensors(root)).to.throw(SafetensorsError, `${root}: cannot read the file: is a directory (EISDIR)`);
    fs.mkdirSync(path.join(root, 'm'));
    fs.writeFileSync(path.join(root, 'm', 'config.json'), JSON.stringify(configToJson(namedConfig('tiny'))));
    fs.mkdirSync(path.join(root, 'm', 'model.safetensors'));
    expect(() => loadCheckpoint(path.join(root, 'm'))).to.throw(SafetensorsError, `${path.join(root, 'm', 'model.safetensors')}: cannot read the file: is a directory (EISDIR)`);
  });

  it('writing: a missing directory, a path under a file', () => {
    const file = path.join(root, 'no', 'such', 'x.json');
    expect(() => writeFileAtomic(file, '{}')).to.throw(FileSystemError, `${file}: cannot write the file (creating ${file}.tmp): no such file or directory (ENOENT)`);
    const plain = path.join(root, 'plain');
    fs.writeFileSync(plain, 'x');
    expect(() => makeDirectory(path.join(plain, 'a'))).to.throw(FileSystemError, `${plain} is a file, not a directory, so ${path.join(plain, 'a')} cannot be created`);
  });

  it('a full disk and a read-only mount: ENOSPC and EROFS with the file, never a half-written file', function () {
    const full = path.join(root, 'full');
    const ro = path.join(root, 'ro');
    if (!mount(full, 'size=64k') || !mount(ro, 'ro,size=64k')) {
      skipBecause(this, 'cannot mount a tmpfs here (needs root; CI runs as root)', 'provides');
    }
    const config = { ...withLabels(namedConfig('tiny'), 2), vocabSize: 300 };
    const tensors = new Map([...expectedTensors(config, 'classification')].map(([n, shape]) => [n, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }]));
    const out = path.join(full, 'model');
    expect(() => saveCheckpoint(out, config, tensors)).to.throw(FileSystemError, `${path.join(out, 'model.safetensors')}: cannot write the file: no space left on the device (ENOSPC)`);
    expect(fs.readdirSync(out), 'no temporary file left').to.deep.equal([]);
    expect(() => saveCheckpoint(path.join(ro, 'a', 'b'), config, tensors)).to.throw(FileSystemError, `${path.join(ro, 'a')}: cannot create the directory: read-only file system (EROFS)`);
  });
});
