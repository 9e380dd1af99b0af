import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { RUN_OPTIONS } from '../../jobs/common_options.ts';
import { FINETUNE_OPTIONS } from '../../jobs/finetune.ts';
import { MULTITASK_EXPERIMENT_OPTIONS } from '../../jobs/multitask_experiment.ts';
import { OptionError, defineOptions, flagName, opt, resolveOptions, trajectoryOptions } from '../../jobs/options.ts';
import { PRETRAIN_OPTIONS } from '../../jobs/pretrain.ts';
import { PRUNE_OPTIONS } from '../../jobs/prune.ts';

const ROOT = path.join(import.meta.dirname, '../..');

/** `webprune COMMAND --help`, run as a user would (the CLI in a child process). */
function help(command: string): string {
  return execFileSync(process.execPath, ['--import', './scripts/ts-register.mjs', 'cli/webprune.ts', ...command.split(' '), '--help'], { cwd: ROOT, encoding: 'utf8', env: process.env });
}

/** The help entry of one flag, its wrapped continuation lines joined. */
function line(text: string, flag: string): string {
  const entries: string[] = [];
  for (const l of text.split('\n')) {
    if (/^\s{2}-/.test(l)) entries.push(l.trim());
    else if (/^\s{3,}\S/.test(l) && entries.length) entries[entries.length - 1] += ` ${l.trim()}`;
  }
  const found = entries.find((e) => e.startsWith(`${flag} `) || e === flag);
  if (!found) throw new Error(`no ${flag} in:\n${text}`);
  return found.replace(/\s+/g, ' ');
}

describe('job options (declared once) @slow', function () {
  this.timeout(60_000);

  it('prune, finetune, pretrain and multitask take the run loop\'s flags with the same help and defaults', () => {
    const texts = ['prune', 'finetune', 'pretrain', 'multitask'].map(help);
    for (const o of Object.values(RUN_OPTIONS)) {
      const lines = texts.map((t) => line(t, flagName(o.flag)));
      for (const l of lines.slice(1)) expect(l, flagName(o.flag)).to.equal(lines[0]);
    }
    expect(line(texts[0]!, '--seed')).to.include('(default: 42)');
    expect(line(texts[2]!, '--checkpoint-every')).to.include('(default: 500)');
    for (const t of texts) expect(t).to.not.match(/--stop-at\b/);
  });

  it('every flag of a job spec reaches the CLI', () => {
    const specs = [['prune', PRUNE_OPTIONS], ['finetune', FINETUNE_OPTIONS], ['pretrain', PRETRAIN_OPTIONS], ['experiment multitask-vs-ensemble', MULTITASK_EXPERIMENT_OPTIONS]] as const;
    for (const [command, spec] of specs) {
      const text = help(command);
      for (const o of Object.values(spec)) expect(text, `${command} ${o.flag}`).to.include(flagName(o.flag));
    }
  });

  it('resolveOptions fills defaults and validates values given in code, naming the flag', () => {
    const o = resolveOptions(FINETUNE_OPTIONS, { model: 'tiny', task: 'mrpc', out: '/tmp/x' });
    expect(o.batchSize).to.equal(32);
    expect(o.seed).to.equal(42);
    expect(o.resume).to.equal(false);
    expect(o.steps).to.equal(undefined);
    const bad = (over: Record<string, unknown>) => () => resolveOptions(FINETUNE_OPTIONS, { model: 'tiny', task: 'mrpc', out: '/tmp/x', ...over });
    expect(bad({ batchSize: 0 })).to.throw(OptionError, '--batch-size must be a positive integer (got 0)');
    expect(bad({ steps: 2.5 })).to.throw(OptionError, '--steps must be a positive integer');
    expect(bad({ lr: 'fast' })).to.throw(OptionError, '--lr must be a number');
    expect(bad({ warmup: 2 })).to.throw(OptionError, '--warmup must be in [0, 1]');
    expect(bad({ timeLimit: -1 })).to.throw(OptionError, '--time-limit must be a non-negative number of seconds');
    expect(bad({ model: undefined })).to.throw(OptionError, '--model is required');
    expect(bad({ bogus: 1 })).to.throw(OptionError, "unknown option 'bogus'");
  });

  it('the fingerprint holds exactly the trajectory options, keyed by flag', () => {
    const o = resolveOptions(PRUNE_OPTIONS, { task: 'mrpc', sparsity: [0.9], out: '/tmp/x' });
    const t = trajectoryOptions(PRUNE_OPTIONS, o);
    expect(t['--sparsity']).to.deep.equal([0.9]);
    expect(t['--max-train']).to.equal(null);
    expect(t).to.not.have.any.keys('--out', '--resume', '--checkpoint-every', '--stop-after', '--time-limit', '--log-every', '--eval-batch-size');
  });

  it('a negated flag (--no-wait) is on unless given, keyed as commander keys it', () => {
    const spec = defineOptions({ wait: opt.negatedFlag('--no-wait', 'return at once') });
    expect(resolveOptions(spec, {}).wait).to.equal(true);
    expect(resolveOptions(spec, { wait: false }).wait).to.equal(false);
    expect(() => defineOptions({ noWait: opt.negatedFlag('--no-wait', 'x') })).to.throw(/expected 'wait'/);
    expect(() => opt.negatedFlag('--wait', 'x')).to.throw(/does not start with --no-/);
  });

  it('a spec key must be the attribute name of its flag', () => {
    expect(() => defineOptions({ batch: opt.count('--batch-size <n>', 'x', 1) })).to.throw(/key 'batch' does not match flag --batch-size <n> \(expected 'batchSize'\)/);
  });
});
