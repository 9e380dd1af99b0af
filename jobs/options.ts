/**
 * Job options declared once. A job lists its options as a spec (flag, help, parser, default, and
 * whether the option changes the training trajectory); from that one spec come
 *   - the option types of the job function (OptionValues / OptionInput),
 *   - the CLI flags (cli/options.ts adds them to a commander command),
 *   - validation of values given in code (resolveOptions: a test or an experiment passes a plain
 *     object and gets the same checks and defaults as the command line),
 *   - the resume fingerprint (trajectoryOptions: the options whose change must refuse --resume).
 */

/** One option: `flag` is commander's syntax ('--batch-size <n>', '--resume'). */
export interface OptionSpec<T, Present extends boolean = boolean> {
  readonly flag: string;
  readonly help: string;
  /** Parses and validates a command-line string. @throws OptionError naming the flag */
  readonly parse: (raw: string) => T;
  /** Validates a value given in code (numbers, lists). @throws OptionError naming the flag */
  readonly check: (value: unknown) => T;
  readonly default?: T;
  readonly required?: boolean;
  /** True when a different value changes what a run computes: --resume refuses the change. */
  readonly trajectory?: boolean;
  /** Phantom marker: true when the option always has a value (required or defaulted). */
  readonly present?: Present;
}

// biome-ignore lint: any is the widest option type here
export type AnyOption = OptionSpec<any, boolean>;
export type OptionsSpec = Readonly<Record<string, AnyOption>>;

type ValueOf<O> = O extends OptionSpec<infer T, true> ? T : O extends OptionSpec<infer T, boolean> ? T | undefined : never;

/** The option values a job receives: required and defaulted options are always set. */
export type OptionValues<S extends OptionsSpec> = { -readonly [K in keyof S]: ValueOf<S[K]> };

type RequiredKeys<S extends OptionsSpec> = { [K in keyof S]: S[K] extends { required: true } ? K : never }[keyof S];

/** What a caller passes in code: required options, and any others it wants to change. */
export type OptionInput<S extends OptionsSpec> = { [K in RequiredKeys<S>]: NonNullable<ValueOf<S[K]>> } & { [K in Exclude<keyof S, RequiredKeys<S>>]?: ValueOf<S[K]> };

/** A bad option value; the message names the flag. */
export class OptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

/** The long name of a flag: '--batch-size <n>' → '--batch-size'. */
export function flagName(flag: string): string {
  return flag.split(/[ ,]/)[0]!;
}

/** commander's attribute name of a flag: '--batch-size <n>' → 'batchSize', '--no-wait' → 'wait'. */
export function attributeName(flag: string): string {
  return flagName(flag)
    .replace(/^--(no-)?/, '')
    .replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

interface Extra<T> {
  trajectory?: boolean;
  /** A further check on the parsed value; returns an error text (without the flag) or null. */
  valid?: (v: T) => string | null;
}

function make<T>(flag: string, help: string, toValue: (raw: unknown, name: string) => T, def: T | undefined, required: boolean, extra: Extra<T>): AnyOption {
  const name = flagName(flag);
  const check = (raw: unknown): T => {
    const v = toValue(raw, name);
    const why = extra.valid?.(v);
    if (why) throw new OptionError(`${name} ${why} (got ${JSON.stringify(raw)})`);
    return v;
  };
  return { flag, help, parse: check, check, default: def, required, trajectory: extra.trajectory ?? false };
}

const asNumber = (raw: unknown, name: string): number => {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
  if (!Number.isFinite(n)) throw new OptionError(`${name} must be a number (got ${JSON.stringify(raw)})`);
  return n;
};

const asInteger = (min: number) => (raw: unknown, name: string): number => {
  const n = asNumber(raw, name);
  if (!Number.isInteger(n) || n < min) throw new OptionError(`${name} must be ${min === 1 ? 'a positive' : 'a non-negative'} integer (got ${JSON.stringify(raw)})`);
  return n;
};

const asString = (raw: unknown, name: string): string => {
  if (typeof raw !== 'string' || raw === '') throw new OptionError(`${name} must be a non-empty string (got ${JSON.stringify(raw)})`);
  return raw;
};

const asBoolean = (raw: unknown, name: string): boolean => {
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new OptionError(`${name} is a switch (got ${JSON.stringify(raw)})`);
};

type Builder<T> = {
  /** An option with this default. */
  (flag: string, help: string, def: T, extra?: Extra<T>): OptionSpec<T, true>;
  /** An option without a default (undefined when not given). */
  optional(flag: string, help: string, extra?: Extra<T>): OptionSpec<T, false>;
  /** An option the caller must give. */
  required(flag: string, help: string, extra?: Extra<T>): OptionSpec<T, true> & { required: true };
};

function builder<T>(toValue: (raw: unknown, name: string) => T): Builder<T> {
  const b = ((flag: string, help: string, def: T, extra: Extra<T> = {}) => make(flag, help, toValue, def, false, extra)) as Builder<T>;
  b.optional = (flag, help, extra = {}) => make(flag, help, toValue, undefined, false, extra) as OptionSpec<T, false>;
  b.required = (flag, help, extra = {}) => make(flag, help, toValue, undefined, true, extra) as OptionSpec<T, true> & { required: true };
  return b;
}

/** Option builders by value kind. */
export const opt = {
  /** Any finite number. */
  number: builder(asNumber),
  /** An integer ≥ 1 (counts, sizes, steps: 0 is refused, so nothing loops forever on it). */
  count: builder(asInteger(1)),
  /** An integer ≥ 0 (0 has a documented meaning, e.g. "never"). */
  natural: builder(asInteger(0)),
  /** A non-empty string (paths, names). */
  string: builder(asString),
  /** A comma-separated list (given in code as an array). */
  list: builder((raw: unknown, name: string): string[] => {
    const items = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(',').map((s) => s.trim()) : [];
    if (items.length === 0 || items.some((s) => s === '')) throw new OptionError(`${name} must be a comma-separated list (got ${JSON.stringify(raw)})`);
    return items;
  }),
  /** A comma-separated list of numbers. */
  numbers: builder((raw: unknown, name: string): number[] => {
    const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [];
    const xs = items.map((x) => (typeof x === 'number' ? x : String(x).trim() === '' ? Number.NaN : Number(x)));
    if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) throw new OptionError(`${name} must be a comma-separated list of numbers (got ${JSON.stringify(raw)})`);
    return xs;
  }),
  /** A switch: false unless given. */
  flag(flag: string, help: string, extra: Extra<boolean> = {}): OptionSpec<boolean, true> {
    return make(flag, help, asBoolean, false, false, extra) as OptionSpec<boolean, true>;
  },
  /** A switch that is on unless `--no-X` is given (commander's negated flag; the key is X). */
  negatedFlag(flag: string, help: string): OptionSpec<boolean, true> {
    if (!flagName(flag).startsWith('--no-')) throw new Error(`negatedFlag: ${flag} does not start with --no-`);
    return make(flag, help, asBoolean, true, false, {}) as OptionSpec<boolean, true>;
  },
  /** One of fixed choices. */
  choice<C extends string>(flag: string, help: string, choices: readonly C[], def: C, extra: Extra<C> = {}): OptionSpec<C, true> {
    return make(flag, `${help} (${choices.join(' | ')})`, (raw, name) => {
      if (!choices.includes(raw as C)) throw new OptionError(`${name} must be one of ${choices.join(', ')} (got ${JSON.stringify(raw)})`);
      return raw as C;
    }, def, false, extra) as OptionSpec<C, true>;
  },
};

/** Validation shorthands for `extra.valid`. */
export const within = (lo: number, hi: number, open = false) => (v: number) =>
  (open ? v > lo && v < hi : v >= lo && v <= hi) ? null : `must be in ${open ? '(' : '['}${lo}, ${hi}${open ? ')' : ']'}`;
export const positive = (v: number) => (v > 0 ? null : 'must be positive');

/**
 * Checks a spec: each key is commander's attribute name of its flag (so the CLI's parsed object
 * and the job's option object have the same keys).
 * @throws Error naming the first mismatch (a programming error)
 */
export function defineOptions<S extends OptionsSpec>(spec: S): S {
  for (const [key, o] of Object.entries(spec)) {
    if (attributeName(o.flag) !== key) throw new Error(`option spec: key '${key}' does not match flag ${o.flag} (expected '${attributeName(o.flag)}')`);
  }
  return spec;
}

/**
 * Fills defaults and validates every value, as the command line would.
 * @throws OptionError naming the flag of a missing required option, an unknown option, or a bad value
 */
export function resolveOptions<S extends OptionsSpec>(spec: S, given: Readonly<Record<string, unknown>>): OptionValues<S> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(spec, key) && given[key] !== undefined) throw new OptionError(`unknown option '${key}'`);
  }
  for (const [key, o] of Object.entries(spec)) {
    const v = given[key];
    if (v === undefined) {
      if (o.required) throw new OptionError(`${flagName(o.flag)} is required`);
      out[key] = o.default;
    } else out[key] = o.check(v);
  }
  return out as OptionValues<S>;
}

/**
 * The trajectory options of a resolved option set, keyed by flag ('--batch-size': 32): the part of a
 * run's fingerprint that comes from its options.
 */
export function trajectoryOptions<S extends OptionsSpec>(spec: S, values: OptionValues<S>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(spec)) if (o.trajectory) out[flagName(o.flag)] = (values as Record<string, unknown>)[key] ?? null;
  return out;
}
