/**
 * Commander flags derived from a job's option spec (jobs/options.ts): the flag, its help, its
 * default (shown in --help), and the spec's parser, whose errors commander reports as invalid
 * arguments. Variadic flags (`<paths...>`) are collected by commander and checked by the job.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { JobResult } from '../jobs/job.ts';
import { type OptionsSpec, OptionError } from '../jobs/options.ts';

/**
 * Adds every option of `spec` to `command`.
 * @param o.checkRequired false: required options are left to the job to check (a command with
 *   subcommands, whose required options commander would demand of the subcommands too)
 */
export function addOptions(command: Command, spec: OptionsSpec, o: { checkRequired?: boolean } = {}): Command {
  for (const opt of Object.values(spec)) {
    const option = new Option(opt.flag, opt.help);
    if (!opt.flag.includes('...') && opt.flag.includes('<')) {
      option.argParser((raw: string) => {
        try {
          return opt.parse(raw);
        } catch (err) {
          if (err instanceof OptionError) throw new InvalidArgumentError(err.message);
          throw err;
        }
      });
    }
    if (opt.default !== undefined && opt.default !== false) option.default(opt.default, Array.isArray(opt.default) ? opt.default.join(',') : undefined);
    if (opt.required && o.checkRequired !== false) option.makeOptionMandatory();
    command.addOption(option);
  }
  return command;
}

/** The options the user gave (commander also reports defaults, which the job applies itself). */
export function givenOptions(command: Command): Record<string, unknown> {
  const values = command.opts();
  return Object.fromEntries(Object.entries(values).filter(([k]) => command.getOptionValueSource(k) !== 'default'));
}

/**
 * Prints a job's result: the summary as JSON on stdout, or how to continue a stopped run on stderr.
 * A run stopped by a signal exits with 130.
 */
export function printJobResult<S>(result: JobResult<S>, done: (summary: S) => void = (s) => console.log(JSON.stringify(s, null, 2))): void {
  if (result.status === 'done') {
    done(result.summary);
    return;
  }
  console.error(`stopped (${result.reason}) in the ${result.stage} stage at step ${result.step}; continue with the same command and --resume`);
  if (result.reason === 'signal') process.exitCode = 130;
}
