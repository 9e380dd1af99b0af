/**
 * Seeded mutations of valid input files for the loader fuzz tests (fast-check arbitraries):
 * truncation at structural boundaries and anywhere, bit flips, byte insertions, and values replaced
 * by extreme or wrongly typed ones at chosen places of a JSON document.
 */
import fc from 'fast-check';

/** A change to a byte string, with a description for failure reports. */
export interface ByteMutation {
  what: string;
  apply(bytes: Uint8Array): Uint8Array;
}

/** A copy (Buffer.prototype.slice makes a view, through which a mutation would change the original). */
const copy = (b: Uint8Array, end = b.length) => Uint8Array.from(b.subarray(0, end));

const truncateAt = (n: number): ByteMutation => ({ what: `truncate at ${n}`, apply: (b) => copy(b, n) });

/**
 * Byte-level mutations of `bytes`: truncation at every given boundary (and anywhere), one to four
 * bit flips, a few bytes overwritten or inserted (NUL, CR, LF, TAB, quotes, high bytes among them).
 */
export function byteMutations(length: number, boundaries: readonly number[]): fc.Arbitrary<ByteMutation> {
  const at = fc.nat(Math.max(0, length - 1));
  const specialBytes = fc.constantFrom(0x00, 0x0a, 0x0d, 0x09, 0x22, 0x5c, 0x7b, 0x7d, 0x2c, 0x3a, 0x80, 0xc3, 0xfe, 0xff);
  const someBytes = fc.array(fc.oneof(specialBytes, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
  return fc.oneof(
    fc.constantFrom(...new Set([0, ...boundaries, length])).filter((n) => n <= length).map(truncateAt),
    fc.nat(length).map(truncateAt),
    fc.array(fc.tuple(at, fc.nat(7)), { minLength: 1, maxLength: 4 }).map((flips) => ({
      what: `flip bits ${JSON.stringify(flips)}`,
      apply: (b: Uint8Array) => {
        const out = copy(b);
        for (const [i, bit] of flips) if (i < out.length) out[i]! ^= 1 << bit;
        return out;
      },
    })),
    fc.tuple(at, someBytes, fc.boolean()).map(([i, bytes, insert]) => ({
      what: `${insert ? 'insert' : 'overwrite'} ${JSON.stringify(bytes)} at ${i}`,
      apply: (b: Uint8Array) => {
        if (insert) return Uint8Array.from([...b.subarray(0, i), ...bytes, ...b.subarray(i)]);
        const out = copy(b);
        bytes.forEach((x, k) => {
          if (i + k < out.length) out[i + k] = x;
        });
        return out;
      },
    })),
  );
}

/** Offsets just after each structural character of a text (JSON punctuation, TAB, newline). */
export function textBoundaries(text: string, chars = '{}[],:"\t\n'): number[] {
  const out: number[] = [];
  const bytes = Buffer.from(text, 'utf8');
  bytes.forEach((b, i) => {
    if (chars.includes(String.fromCharCode(b))) out.push(i, i + 1);
  });
  return out;
}

/** Values a careless or hostile writer puts where a number, string, list or object belongs. */
export const extremeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -0, -1, 1, 0.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: -10, max: 100_000 }),
  fc.constantFrom('', '0', '1', '-1', 'NaN', 'Infinity', '1e400', 'F32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'BOOL', 'F8_E5M2', 'f32', 'WordPiece', 'gelu', 'bert', 'x'.repeat(300)),
  fc.string({ maxLength: 12 }),
  fc.constantFrom(null, true, false),
  fc.array(fc.oneof(fc.integer({ min: -3, max: 70_000 }), fc.constantFrom(2 ** 53, 0.5, -1)), { maxLength: 5 }),
  fc.constantFrom([], {}, [[1]], { a: 1 }, [0, 0], [1, 0], [0, 2 ** 40]),
);

/** Number literals JSON.stringify never writes but a text file may hold (they parse to ±Infinity, -0, rounded values). */
export const weirdNumberLiteral = fc.constantFrom('1e400', '-1e400', '-0', '1.0', '1e2', '99999999999999999999', '0.1e-400', '007');

/** A path into a JSON document: keys and indices. */
export type JsonPath = Array<string | number>;

/** Every path of a JSON value (objects and arrays; at most `limit` entries per array). */
export function jsonPaths(value: unknown, limit = 6, prefix: JsonPath = []): JsonPath[] {
  const out: JsonPath[] = [];
  if (Array.isArray(value)) {
    value.slice(0, limit).forEach((v, i) => out.push([...prefix, i], ...jsonPaths(v, limit, [...prefix, i])));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value).slice(0, 40)) out.push([...prefix, k], ...jsonPaths(v, limit, [...prefix, k]));
  }
  return out;
}

/** A deep copy of `doc` with the value at `path` replaced (`remove`: deleted). */
export function setPath(doc: unknown, path: JsonPath, value: unknown, remove = false): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (remove) {
    if (Array.isArray(at)) at.splice(last as number, 1);
    else delete at[last];
  } else at[last] = value;
  return copy;
}

const utf8 = (s: string) => Uint8Array.from(Buffer.from(s, 'utf8'));

/** A change to a JSON document, serialised. */
export interface JsonMutation {
  what: string;
  bytes: Uint8Array;
}

/**
 * Mutations of a JSON document: a value replaced by an extreme or wrongly typed one, a key or
 * element removed, a number written as a weird literal, or the text mutated byte-wise.
 */
export function jsonMutations(doc: unknown, paths: readonly JsonPath[] = jsonPaths(doc)): fc.Arbitrary<JsonMutation> {
  const text = JSON.stringify(doc, null, 1);
  const bytes = Buffer.from(text, 'utf8');
  const path = fc.constantFrom(...paths);
  return fc.oneof(
    fc.tuple(path, extremeValue).map(([p, v]) => ({ what: `set ${JSON.stringify(p)} to ${JSON.stringify(v)?.slice(0, 60)}`, bytes: utf8(JSON.stringify(setPath(doc, p, v))) })),
    path.map((p) => ({ what: `remove ${JSON.stringify(p)}`, bytes: utf8(JSON.stringify(setPath(doc, p, undefined, true))) })),
    fc.tuple(path, weirdNumberLiteral).map(([p, lit]) => ({
      what: `set ${JSON.stringify(p)} to the literal ${lit}`,
      bytes: utf8(JSON.stringify(setPath(doc, p, '__LITERAL__')).replace('"__LITERAL__"', lit)),
    })),
    byteMutations(bytes.length, textBoundaries(text)).map((m) => ({ what: m.what, bytes: m.apply(bytes) })),
  );
}
