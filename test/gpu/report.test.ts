import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { planSteps } from '../../gpu/pretrain_budget.ts';
import { parseEnv, parseStages, parseTestCounts, readGpuRun, resultsMarkdown, summaryMarkdown, validCurve } from '../../gpu/report.ts';

describe('GPU program: reports', () => {
  it('parses env.txt, stages.tsv and the closing line of the test log', () => {
    expect(parseEnv('mode: gpu\ngpu: NVIDIA H200, 580.1, 143771 MiB\nno colon here\n')).to.deep.equal({ mode: 'gpu', gpu: 'NVIDIA H200, 580.1, 143771 MiB' });
    expect(parseStages('stage\tstatus\tseconds\tnote\nsetup\tok\t3\tNode v20\ncheck\tfailed\t40\t\n')).to.deep.equal([
      { stage: 'setup', status: 'ok', seconds: 3, note: 'Node v20' },
      { stage: 'check', status: 'failed', seconds: 40, note: '' },
    ]);
    expect(parseTestCounts('  ✔ a\n\n3 passed, 1 failed, 2 skipped\n\n140 passed, 0 failed, 1 skipped\n')).to.deep.equal({ passed: 140, failed: 0, skipped: 1 });
    expect(parseTestCounts('no summary')).to.equal(undefined);
    expect(validCurve([{ step: 10, loss: 9 }, { step: 10, valid_loss: 8.5 }, { step: 20, valid_loss: 7 }])).to.deep.equal([{ step: 10, loss: 8.5 }, { step: 20, loss: 7 }]);
  });

  it('summarises a run whose later stages were skipped, from whatever files exist', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-report-'));
    try {
      fs.writeFileSync(path.join(dir, 'env.txt'), 'mode: gpu\ndate: 2026-12-01T10:00:00Z\ncommit: abc\ngpu: NVIDIA H200\n');
      fs.writeFileSync(path.join(dir, 'stages.tsv'), 'stage\tstatus\tseconds\tnote\nsetup\tok\t5\t\ncheck\tfailed\t60\ttests: 1 passed, 1 failed, 0 skipped\nbench\tskipped\t0\tan earlier stage failed\n');
      fs.writeFileSync(path.join(dir, 'tests.log'), '1 passed, 1 failed, 0 skipped\n');
      const record = readGpuRun(dir);
      expect(record.kernels).to.equal(undefined);
      expect(record.pretrain).to.equal(undefined);
      const summary = summaryMarkdown(record);
      expect(summary).to.include('## webprune GPU run: NVIDIA H200');
      expect(summary).to.include('| check | failed | 60 | tests: 1 passed, 1 failed, 0 skipped |');
      expect(summary).to.include('| bench | skipped | 0 |');
      const md = resultsMarkdown(record);
      expect(md).to.include('# webprune on NVIDIA H200');
      expect(md).to.include('1 passed, 1 failed, 0 skipped');
      expect(md).not.to.include('## Kernels');
      expect(md).not.to.match(/DRY RUN/);
      // The same record from a dry run says so at the top of both.
      fs.writeFileSync(path.join(dir, 'env.txt'), 'mode: dry-run\ndate: 2026-12-01T10:00:00Z\ncommit: abc\n');
      const dry = readGpuRun(dir);
      expect(summaryMarkdown(dry).split('\n')[0]).to.include('(DRY RUN on lavapipe: not GPU results)');
      expect(resultsMarkdown(dry).split('\n').slice(0, 3).join('\n')).to.match(/^# DRY RUN of the GPU program on .*: not GPU results\n\n> \*\*Dry run on lavapipe/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GPU program: pretraining within a budget', () => {
  it('fills the time left with whole steps after the evaluations, at the fill fraction', () => {
    const plan = planSteps(200, 0.05, 1.5, 10, 0.85)!;
    expect(plan.steps).to.equal(Math.floor((0.85 * 200 - 11 * 1.5) / 0.05));
    expect(plan.evalEvery).to.equal(Math.ceil(plan.steps / 10));
    expect(plan.checkpointEvery).to.equal(0);
    expect(plan.timeLimit).to.equal(198.5);
    expect(plan.steps * 0.05 + 11 * 1.5).to.be.below(0.85 * 200 + 1e-9);
  });

  it('plans nothing when no step fits, and refuses a non-positive step time', () => {
    expect(planSteps(10, 1, 2, 10, 0.85)).to.equal(null);
    expect(() => planSteps(100, 0, 1, 10, 0.85)).to.throw(/not positive/);
  });
});
