import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SafetensorsError, readSafetensors, writeSafetensors } from '../../models/io/safetensors.ts';

/**
 * Written by the reference implementation (Python `safetensors` 0.8.0, `safetensors.numpy.save`) from
 *   a.weight F32 [[1.5, -2, 3.25], [0, 65504, 1e-3]], b.half F16 [1, -0.5, 2^-24, 65504],
 *   c.pos I64 [[0, 1, 2, 3, 4]], d.i32 I32 [-7, 8], e.scalar F32 2.5 (shape []), metadata {format: pt}.
 */
const REFERENCE_FILE =
  'UAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCJjLnBvcyI6eyJkdHlwZSI6Ikk2NCIsInNoYXBlIjpbMSw1XSwiZGF0YV9vZmZzZXRzIjpbMCw0MF19LCJhLndlaWdodCI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMiwzXSwiZGF0YV9vZmZzZXRzIjpbNDAsNjRdfSwiZS5zY2FsYXIiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6W10sImRhdGFfb2Zmc2V0cyI6WzY0LDY4XX0sImQuaTMyIjp7ImR0eXBlIjoiSTMyIiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbNjgsNzZdfSwiYi5oYWxmIjp7ImR0eXBlIjoiRjE2Iiwic2hhcGUiOls0XSwiZGF0YV9vZmZzZXRzIjpbNzYsODRdfX0AAAAAAAAAAAEAAAAAAAAAAgAAAAAAAAADAAAAAAAAAAQAAAAAAAAAAADAPwAAAMAAAFBAAAAAAADgf0dvEoM6AAAgQPn///8IAAAAADwAuAEA/3s=';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-st-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Assembles a file from a header (object or raw string/bytes) and a data buffer. */
function makeFile(name: string, header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: bigint): string {
  const json =
    header instanceof Uint8Array ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  const file = path.join(dir, name);
  fs.writeFileSync(file, out);
  return file;
}

function expectError(file: string, ...fragments: string[]): void {
  let caught: unknown;
  try {
    readSafetensors(file);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a SafetensorsError').to.be.instanceOf(SafetensorsError);
  const msg = (caught as Error).message;
  expect(msg.startsWith(`${file}: `), msg).to.equal(true);
  for (const f of fragments) expect(msg).to.include(f);
}

const f32 = (n: number) => new Uint8Array(new Float32Array(n).buffer);

describe('safetensors: reading', () => {
  it('reads a file written by the reference implementation', () => {
    const file = path.join(dir, 'reference.safetensors');
    fs.writeFileSync(file, Buffer.from(REFERENCE_FILE, 'base64'));
    const { tensors, metadata } = readSafetensors(file);
    expect(metadata).to.deep.equal({ format: 'pt' });
    expect([...tensors.keys()]).to.deep.equal(['c.pos', 'a.weight', 'e.scalar', 'd.i32', 'b.half']);
    const a = tensors.get('a.weight')!;
    expect(a.dtype).to.equal('F32');
    expect(a.shape).to.deep.equal([2, 3]);
    expect(Array.from(a.data as Float32Array)).to.deep.equal([1.5, -2, 3.25, 0, 65504, Math.fround(1e-3)]);
    const b = tensors.get('b.half')!;
    expect(b.dtype).to.equal('F16');
    expect(b.data).to.be.instanceOf(Float32Array);
    expect(Array.from(b.data as Float32Array)).to.deep.equal([1, -0.5, 2 ** -24, 65504]);
    const c = tensors.get('c.pos')!;
    expect(c.data).to.be.instanceOf(BigInt64Array);
    expect(Array.from(c.data as BigInt64Array)).to.deep.equal([0n, 1n, 2n, 3n, 4n]);
    expect(Array.from(tensors.get('d.i32')!.data as Int32Array)).to.deep.equal([-7, 8]);
    const e = tensors.get('e.scalar')!;
    expect(e.shape).to.deep.equal([]);
    expect(Array.from(e.data as Float32Array)).to.deep.equal([2.5]);
  });

  it('reads BF16 and unaligned tensors, and allows gaps between tensors', () => {
    // bf16 1.0 = 0x3f80, -2 = 0xc000; the F32 tensor starts at an odd offset after a 1-byte gap.
    const data = new Uint8Array(4 + 1 + 4);
    new DataView(data.buffer).setUint16(0, 0x3f80, true);
    new DataView(data.buffer).setUint16(2, 0xc000, true);
    new DataView(data.buffer).setFloat32(5, 7.25, true);
    const file = makeFile('bf16.safetensors', {
      x: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] },
      y: { dtype: 'F32', shape: [1], data_offsets: [5, 9] },
    }, data);
    const { tensors, metadata } = readSafetensors(file);
    expect(metadata).to.deep.equal({});
    expect(Array.from(tensors.get('x')!.data as Float32Array)).to.deep.equal([1, -2]);
    expect(Array.from(tensors.get('y')!.data as Float32Array)).to.deep.equal([7.25]);
  });

  it('accepts empty tensors anywhere', () => {
    const file = makeFile('empty.safetensors', {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      z: { dtype: 'F32', shape: [0, 3], data_offsets: [4, 4] },
    }, f32(2));
    expect(readSafetensors(file).tensors.get('z')!.data.length).to.equal(0);
  });
});

describe('safetensors: validation errors', () => {
  it('file shorter than 8 bytes', () => {
    const file = path.join(dir, 'short.safetensors');
    fs.writeFileSync(file, new Uint8Array(5));
    expectError(file, 'shorter than the 8-byte header length');
  });

  it('header length absurd or past the end of file', () => {
    expectError(makeFile('absurd.safetensors', {}, undefined, 1n << 40n), 'absurd');
    expectError(makeFile('past.safetensors', {}, undefined, 1000n), 'runs past the end of the file');
  });

  it('header not UTF-8, not JSON, not an object', () => {
    expectError(makeFile('utf8.safetensors', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 'not valid UTF-8');
    expectError(makeFile('json.safetensors', '{"a": '), 'not valid JSON');
    expectError(makeFile('array.safetensors', '[1, 2]'), 'must be a JSON object', 'array');
    expectError(makeFile('entry.safetensors', { w: 3 }), 'tensor "w"', 'must be an object');
  });

  it('unknown and unsupported dtypes', () => {
    expectError(makeFile('dtype.safetensors', { w: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, f32(1)), 'tensor "w"', 'unknown dtype "F33"');
    expectError(makeFile('u32.safetensors', { w: { dtype: 'U32', shape: [1], data_offsets: [0, 4] } }, f32(1)), 'tensor "w"', 'U32 is not supported');
  });

  it('bad shapes', () => {
    for (const shape of [[-1], [1.5], 'x', ['2'], null]) {
      expectError(makeFile('shape.safetensors', { w: { dtype: 'F32', shape, data_offsets: [0, 4] } }, f32(1)), 'tensor "w"', 'shape must be an array of non-negative integers');
    }
  });

  it('bad data_offsets', () => {
    for (const offs of [[0], [0, 4, 8], [0, '4'], [-4, 0], [0.5, 4]]) {
      expectError(makeFile('offs.safetensors', { w: { dtype: 'F32', shape: [1], data_offsets: offs } }, f32(1)), 'tensor "w"', 'data_offsets must be two non-negative integers');
    }
    expectError(makeFile('order.safetensors', { w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, f32(1)), 'tensor "w"', 'begin > end');
  });

  it('byte length disagreeing with shape × dtype size', () => {
    expectError(makeFile('size.safetensors', { w: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } }, f32(2)), 'tensor "w"', 'span 8 bytes', 'needs 6');
  });

  it('span outside the data buffer', () => {
    expectError(makeFile('span.safetensors', { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(3)), 'tensor "w"', 'past the end of the data buffer (12 bytes)');
  });

  it('overlapping tensors', () => {
    const file = makeFile('overlap.safetensors', {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, f32(3));
    expectError(file, 'tensor "b"', 'overlap tensor "a"');
  });

  it('metadata not a string map', () => {
    expectError(makeFile('meta1.safetensors', { __metadata__: { n: 3 } }), '__metadata__["n"] must be a string');
    expectError(makeFile('meta2.safetensors', { __metadata__: ['x'] }), '__metadata__ must be an object');
  });
});

describe('safetensors: writing', () => {
  const tensors = [
    { name: 'layer.weight', shape: [2, 3], data: new Float32Array([0.1, -1, 2.5, 1e-8, 70000, -3]) },
    { name: 'layer.bias', shape: [3], data: new Float32Array([1, 2, 3]) },
    { name: 'scalar', shape: [], data: new Float32Array([-0.75]) },
  ];

  it('round-trips F32 exactly, with metadata and a header padded to 8 bytes', () => {
    const file = path.join(dir, 'w32.safetensors');
    writeSafetensors(file, tensors, { dtype: 'F32', metadata: { format: 'pt', note: 'ü' } });
    expect(fs.existsSync(`${file}.tmp`)).to.equal(false);
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).to.equal(0);
    expect(bytes.length).to.equal(8 + n + 4 * 10);
    const { tensors: read, metadata } = readSafetensors(file);
    expect(metadata).to.deep.equal({ format: 'pt', note: 'ü' });
    expect([...read.keys()]).to.deep.equal(tensors.map((t) => t.name));
    for (const t of tensors) {
      expect(read.get(t.name)!.dtype).to.equal('F32');
      expect(read.get(t.name)!.shape).to.deep.equal(t.shape);
      expect(Array.from(read.get(t.name)!.data as Float32Array)).to.deep.equal(Array.from(t.data));
    }
  });

  it('writes F16 and BF16, rounded to nearest even', () => {
    for (const dtype of ['F16', 'BF16'] as const) {
      const file = path.join(dir, `w-${dtype}.safetensors`);
      if (dtype === 'F16') {
        // 70000 would be stored as +Infinity: refused unless non-finite values are allowed.
        expect(() => writeSafetensors(file, tensors, { dtype })).to.throw(SafetensorsError, /tensor "layer.weight": element 4 \(index \[1, 1\] of shape \[2, 3\]\) = 70000 is beyond the F16 range .* save as F32 or BF16/);
        expect(fs.existsSync(file)).to.equal(false);
      }
      writeSafetensors(file, tensors, { dtype, allowNonFinite: true });
      const read = readSafetensors(file, { allowNonFinite: true }).tensors;
      expect(fs.statSync(file).size - 8 - Number(fs.readFileSync(file).readBigUInt64LE(0))).to.equal(2 * 10);
      const w = Array.from(read.get('layer.weight')!.data as Float32Array);
      expect(read.get('layer.weight')!.dtype).to.equal(dtype);
      const rel = dtype === 'F16' ? 2 ** -11 : 2 ** -8;
      for (let i = 0; i < w.length; i++) {
        const x = tensors[0]!.data[i]!;
        if (dtype === 'F16' && x === 70000) expect(w[i]).to.equal(Infinity); // over 65504
        else if (dtype === 'F16' && x === Math.fround(1e-8)) expect(w[i]).to.equal(0); // below 2^-25
        else expect(Math.abs(w[i]! - x)).to.be.at.most(Math.abs(x) * rel);
      }
    }
  });

  it('rejects bad input and leaves no file behind', () => {
    const file = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(file, 'previous content');
    const bad = [
      [{ name: 'a', shape: [2], data: new Float32Array(3) }],
      [{ name: 'a', shape: [1], data: new Float32Array(1) }, { name: 'a', shape: [1], data: new Float32Array(1) }],
      [{ name: '__metadata__', shape: [1], data: new Float32Array(1) }],
      [{ name: 'a', shape: [-1], data: new Float32Array(0) }],
    ];
    const messages = ['needs 2', 'duplicate tensor name', 'reserved', 'non-negative integers'];
    bad.forEach((ts, i) => {
      expect(() => writeSafetensors(file, ts)).to.throw(SafetensorsError, messages[i]);
    });
    expect(() => writeSafetensors(file, [], { metadata: { a: 1 as unknown as string } })).to.throw(SafetensorsError, 'must be a string');
    expect(fs.readFileSync(file, 'utf8')).to.equal('previous content');
    expect(fs.existsSync(`${file}.tmp`)).to.equal(false);
  });
});
