import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { expect } from 'chai';
import { DAWN_LIMIT_NOTICES, canFilterNativeStderr, withNativeStderrFiltered } from '../../engine/runtime/native_stderr.ts';
import { skipBecause } from '../helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Runs a module in a child node process; its stderr. */
function stderrOf(code: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--import', './scripts/ts-register.mjs', '--input-type=module', '-e', code], { cwd: ROOT }, (e, _so, se) => (e ? reject(new Error(`${e.message}\n${se}`)) : resolve(se))),
  );
}

describe('engine: native stderr filtering (Dawn\'s limit notices) @gpu', function () {
  this.timeout(60000);

  it('drops the matching lines written to fd 2 and writes back the rest, in order', async function () {
    if (!canFilterNativeStderr()) skipBecause(this, 'koffi cannot load libc dup/dup2 here, so native stderr runs unfiltered', 'provides');
    const notice = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';
    const se = await stderrOf(`
            import { DAWN_LIMIT_NOTICES, withNativeStderrFiltered } from './engine/runtime/native_stderr.ts';
      const r = await withNativeStderrFiltered(DAWN_LIMIT_NOTICES, async () => { fs.writeSync(2, 'kept 1\\n' + ${JSON.stringify(notice)} + 'kept 2\\n'); return 7; });
      fs.writeSync(2, 'after ' + r + '\\n');
      await withNativeStderrFiltered(DAWN_LIMIT_NOTICES, () => { throw new Error('boom'); }).catch((e) => fs.writeSync(2, 'caught ' + e.message + '\\n'));
      fs.writeSync(2, 'restored\\n');`);
    expect(se).to.equal('kept 1\nkept 2\nafter 7\ncaught boom\nrestored\n');
  });

  it('no WebGPU adapter request prints Dawn\'s limit notices', async () => {
    const se = await stderrOf(`import { openGpu } from './engine/runtime/gpu.ts'; const g = await openGpu(); g.device.destroy(); process.exit(0);`);
    expect(se).to.not.match(/artificially reduced/);
  });

  it('matches exactly the two notices', () => {
    const m = (s: string) => DAWN_LIMIT_NOTICES.some((re) => re.test(s));
    expect(m('Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 500000 to 16 to fit dynamic offset allocation limit.\n')).to.equal(true);
    expect(m('Warning: something else\n')).to.equal(false);
  });

  it('runs the function unfiltered when nested', async () => {
    expect(await withNativeStderrFiltered([], () => withNativeStderrFiltered([], async () => 3))).to.equal(3);
  });
});
