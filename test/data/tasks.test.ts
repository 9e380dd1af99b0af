import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultDataDir } from '../../data/paths.ts';
import { DataFormatError, getTask, loadSplit } from '../../data/tasks.ts';
import type { Split } from '../../data/tasks.ts';
import { needData } from '../helpers.ts';

const dataDir = defaultDataDir();

describe('tasks: real data @data', function () {
  before(function () {
    needData(this, 'glue/MRPC/train.tsv');
  });

  const counts: Record<string, [number, number, number]> = {
    mrpc: [3668, 408, 1725],
    stsb: [5749, 1500, 1379],
    sciie: [3219, 455, 974],
    citation_intent: [1688, 114, 139],
  };
  for (const [name, expected] of Object.entries(counts)) {
    it(`${name}: row counts ${expected.join(' / ')}`, () => {
      const got = (['train', 'dev', 'test'] as Split[]).map((s) => {
        const split = loadSplit(name, dataDir, s);
        expect(split.skipped).to.equal(0);
        return split.examples.length;
      });
      expect(got).to.deep.equal(expected);
    });
  }

  it('mrpc: labels, label balance, pairs, BOM and unlabeled test', () => {
    const task = getTask('mrpc');
    expect(task).to.include({ numLabels: 2, isRegression: false });
    expect(task.metricNames).to.deep.equal(['accuracy', 'f1']);
    const train = loadSplit(task, dataDir, 'train');
    expect(train.examples[0]).to.deep.equal({
      textA: 'Amrozi accused his brother, whom he called "the witness", of deliberately distorting his evidence.',
      textB: 'Referring to him as only "the witness", Amrozi accused his brother of deliberately distorting his evidence.',
      label: 1,
    });
    expect(train.examples.filter((e) => e.label === 1).length).to.equal(2474);
    const dev = loadSplit(task, dataDir, 'dev');
    expect([dev.examples.filter((e) => e.label === 1).length, dev.examples.filter((e) => e.label === 0).length]).to.deep.equal([279, 129]);
    const test = loadSplit(task, dataDir, 'test');
    expect(test.labeled).to.equal(false);
    expect(test.examples.every((e) => Number.isNaN(e.label) && e.textB !== undefined)).to.equal(true);
  });

  it('mrpc: sentences with an unbalanced quote survive intact', () => {
    const train = loadSplit('mrpc', dataDir, 'train').examples;
    // File line 57 is example 55 (line 1 is the header).
    expect(train[55]!.textA).to.equal(
      'Contrary to what PeopleSoft management would have you believe, Oracle intends to fully support PeopleSoft customers and products for many years to come."',
    );
    expect(train[77]!.textA).to.equal('"We are declaring war on sexual harassment and sexual assault.');
    const odd = train.filter((e) => (e.textA.split('"').length - 1) % 2 === 1).length;
    expect(odd).to.be.greaterThan(10);
  });

  it('stsb: scores are the last column, in [0, 5]; test unscored', () => {
    const task = getTask('stsb');
    expect(task).to.include({ numLabels: 1, isRegression: true });
    expect(task.metricNames).to.deep.equal(['pearson', 'spearman']);
    const train = loadSplit(task, dataDir, 'train').examples;
    expect(train.slice(0, 2)).to.deep.equal([
      { textA: 'A plane is taking off.', textB: 'An air plane is taking off.', label: 5 },
      { textA: 'A man is playing a large flute.', textB: 'A man is playing a flute.', label: 3.8 },
    ]);
    expect(train.every((e) => e.label >= 0 && e.label <= 5)).to.equal(true);
    expect(loadSplit(task, dataDir, 'test').labeled).to.equal(false);
  });

  for (const name of ['sciie', 'citation_intent']) {
    it(`${name}: the fixed label list is the sorted labels of train`, () => {
      const file = path.join(dataDir, 'scibert', name, 'train.jsonl');
      const raw = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l).label as string);
      const task = getTask(name);
      expect(task.labelNames).to.deep.equal([...new Set(raw)].sort());
      expect(task.numLabels).to.equal(name === 'sciie' ? 7 : 6);
      expect(task.metricNames).to.deep.equal(['accuracy', 'macro_f1']);
      const train = loadSplit(task, dataDir, 'train').examples;
      train.forEach((e, i) => expect(task.labelNames![e.label]).to.equal(raw[i]));
      expect(train[0]!.textB).to.equal(undefined);
    });
  }
});

describe('tasks: malformed files and generic tasks', () => {
  let root: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-tasks-'));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  function write(rel: string, content: string): string {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    return file;
  }

  function expectRowError(fn: () => unknown, message: string): void {
    expect(fn).to.throw(DataFormatError, message);
  }

  it('MRPC-format rows: wrong column count and unknown label give FILE:LINE; skipMalformed counts them', () => {
    const file = write(
      'glue/MRPC/train.tsv',
      '\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA "quoted\tB\n0\t3\t4\tonly four\n2\t5\t6\tC\tD\n0\t7\t8\tE\tF\n',
    );
    expectRowError(() => loadSplit('mrpc', root, 'train'), `${file}:3: 4 columns, expected 5`);
    const ok = loadSplit('mrpc', root, 'train', { skipMalformed: true });
    expect(ok.skipped).to.equal(2);
    expect(ok.examples).to.deep.equal([
      { textA: 'A "quoted', textB: 'B', label: 1 },
      { textA: 'E', textB: 'F', label: 0 },
    ]);
    write('glue/MRPC/dev.tsv', 'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n2\t5\t6\tC\tD\n');
    expectRowError(() => loadSplit('mrpc', root, 'dev'), `${path.join(root, 'glue/MRPC/dev.tsv')}:2: unknown label "2" (known: 0, 1)`);
    // Header problems are fatal even when skipping.
    write('glue/MRPC/test.tsv', 'index\t#1 ID\t#2 ID\t#1 String\n');
    expectRowError(() => loadSplit('mrpc', root, 'test', { skipMalformed: true }), `${path.join(root, 'glue/MRPC/test.tsv')}:1: header lacks column "#2 String"`);
  });

  it('STS-B-format rows: non-numeric and out-of-range scores', () => {
    const head = 'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n';
    const row = (score: string) => `0\tg\tf\t2012\t1\tnone\tnone\tS1\tS2\t${score}\n`;
    const file = write('glue/STS-B/train.tsv', head + row('1.5') + row('abc') + row('7') + row('') + row('4.000'));
    expectRowError(() => loadSplit('stsb', root, 'train'), `${file}:3: score "abc" is not a number`);
    const ok = loadSplit('stsb', root, 'train', { skipMalformed: true });
    expect(ok.skipped).to.equal(3);
    expect(ok.examples.map((e) => e.label)).to.deep.equal([1.5, 4]);
    write('glue/STS-B/dev.tsv', head + row('5.5'));
    expectRowError(() => loadSplit('stsb', root, 'dev'), 'dev.tsv:2: score 5.5 is outside [0, 5]');
  });

  it('JSONL rows: bad JSON, unknown label, missing text', () => {
    const file = write(
      'scibert/sciie/train.jsonl',
      ['{"text": "ok [[ a ]] << b >>", "label": "USED-FOR", "metadata": [1]}', '{"text": "x", "label": ', '', '{"text": "y", "label": "USED_FOR"}', '{"label": "COMPARE"}', '[1]', '{"text": "z", "label": "COMPARE"}'].join('\n'),
    );
    expectRowError(() => loadSplit('sciie', root, 'train'), `${file}:2: bad JSON`);
    const ok = loadSplit('sciie', root, 'train', { skipMalformed: true });
    expect(ok.skipped).to.equal(4);
    expect(ok.examples).to.deep.equal([
      { textA: 'ok [[ a ]] << b >>', label: 6 },
      { textA: 'z', label: 0 },
    ]);
    write('scibert/sciie/dev.jsonl', '{"text": "y", "label": "USED_FOR"}\n');
    expectRowError(() => loadSplit('sciie', root, 'dev'), ':1: unknown label "USED_FOR" (known: COMPARE, CONJUNCTION');
    write('scibert/sciie/test.jsonl', '{"label": "COMPARE"}\n');
    expectRowError(() => loadSplit('sciie', root, 'test'), ':1: "text" must be a string (got nothing)');
  });

  it('missing files and unknown tasks', () => {
    expect(() => loadSplit('citation_intent', root, 'dev')).to.throw(`${path.join(root, 'scibert/citation_intent/dev.jsonl')}: not found, for task citation_intent split dev (data root ${root}: pass --data-dir or set WEBPRUNE_DATA)`);
    expect(() => getTask('qqp')).to.throw('unknown task "qqp" (known: mrpc, stsb, sciie, citation_intent, tsv:DIR, jsonl:DIR, regression:tsv:DIR, regression:jsonl:DIR)');
    expect(() => getTask(`tsv:${path.join(root, 'nothing')}`)).to.throw('train.tsv not found');
  });

  it('generic TSV classification with string labels (sorted), pairs, unlabeled test', () => {
    const dir = path.join(root, 'gen-tsv');
    write('gen-tsv/train.tsv', 'id\tsentence1\tsentence2\tlabel\n1\ta "b\tc\tpos\n2\td\te\tneg\n3\tf\tg\tneutral\n');
    write('gen-tsv/dev.tsv', 'sentence1\tsentence2\tlabel\nh\ti\tneg\nj\tk\tbad\n');
    write('gen-tsv/test.tsv', 'sentence1\tsentence2\nl\tm\n');
    const task = getTask(`tsv:${dir}`);
    expect(task).to.include({ numLabels: 3, isRegression: false });
    expect(task.labelNames).to.deep.equal(['neg', 'neutral', 'pos']);
    expect(task.metricNames).to.deep.equal(['accuracy', 'macro_f1']);
    expect(loadSplit(task, '/nonexistent', 'train').examples).to.deep.equal([
      { textA: 'a "b', textB: 'c', label: 2 },
      { textA: 'd', textB: 'e', label: 0 },
      { textA: 'f', textB: 'g', label: 1 },
    ]);
    expectRowError(() => loadSplit(task, '/nonexistent', 'dev'), 'dev.tsv:3: unknown label "bad" (known: neg, neutral, pos)');
    const test = loadSplit(task, '/nonexistent', 'test');
    expect(test.labeled).to.equal(false);
    expect(test.examples).to.have.length(1);
    expect(test.examples[0]!.label).to.be.NaN;
    write('gen-tsv/dev.tsv', 'sentence1\tsentence2\nh\ti\n');
    expectRowError(() => loadSplit(task, '/nonexistent', 'dev'), 'dev.tsv:1: header lacks column "label"');
  });

  it('generic JSONL with integer labels, and regression', () => {
    const dir = path.join(root, 'gen-jsonl');
    write('gen-jsonl/train.jsonl', '{"text": "a", "label": 1}\n{"text": "b", "text_b": "c", "label": "0"}\n{"text": "d", "label": 1}\n');
    write('gen-jsonl/dev.jsonl', '{"text": "e", "label": 0}\n{"text": "f", "label": true}\n');
    const task = getTask(`jsonl:${dir}`);
    expect(task.labelNames).to.deep.equal(['0', '1']);
    expect(task.metricNames).to.deep.equal(['accuracy', 'f1', 'macro_f1']);
    expect(loadSplit(task, '', 'train').examples).to.deep.equal([
      { textA: 'a', label: 1 },
      { textA: 'b', textB: 'c', label: 0 },
      { textA: 'd', label: 1 },
    ]);
    expectRowError(() => loadSplit(task, '', 'dev'), 'dev.jsonl:2: "label" must be a string or a number (got true)');

    const reg = getTask(`regression:jsonl:${dir}`);
    expect(reg).to.include({ numLabels: 1, isRegression: true });
    write('gen-jsonl/train.jsonl', '{"text": "a", "label": 0.25}\n{"text": "b", "label": "-3e2"}\n{"text": "c", "label": "high"}\n');
    expectRowError(() => loadSplit(reg, '', 'train'), 'train.jsonl:3: label "high" is not a number');
    expect(loadSplit(reg, '', 'train', { skipMalformed: true }).examples.map((e) => e.label)).to.deep.equal([0.25, -300]);
  });
  it('refuses UTF-16, binary and non-UTF-8 files, saying so instead of echoing their bytes', () => {
    const head = 'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA\tB\n';
    const utf16 = write('enc16/glue/MRPC/train.tsv', '');
    fs.writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(head, 'utf16le')]));
    expect(() => loadSplit('mrpc', path.join(root, 'enc16'), 'train')).to.throw(`${utf16}: is UTF-16 text (byte-order mark FF FE), not UTF-8`);
    fs.writeFileSync(utf16, Buffer.from(head, 'utf16le'));
    expect(() => loadSplit('mrpc', path.join(root, 'enc16'), 'train')).to.throw(`${utf16}: looks like UTF-16 text (NUL bytes between characters), not UTF-8`);
    const binary = write('encbin/glue/MRPC/train.tsv', '');
    fs.writeFileSync(binary, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, ...Array.from({ length: 300 }, (_, i) => (i * 37) % 256)]));
    expect(() => loadSplit('mrpc', path.join(root, 'encbin'), 'train')).to.throw(`${binary}: is not a text file: NUL byte at offset 5 (line 1)`);
    const latin1 = write('enclat/glue/MRPC/train.tsv', '');
    fs.writeFileSync(latin1, Buffer.from(`${head}0\t3\t4\tcaf\xe9\tB\n`, 'latin1'));
    expect(() => loadSplit('mrpc', path.join(root, 'enclat'), 'train')).to.throw(`${latin1}: is not valid UTF-8: byte 0xE9 at offset 59 (line 3)`);
  });

  it('caps the input it echoes at 200 characters', () => {
    const long = 'x'.repeat(100_000);
    write('caps/glue/MRPC/train.tsv', `Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n${long}\t1\t2\tA\tB\n`);
    let message = '';
    try {
      loadSplit('mrpc', path.join(root, 'caps'), 'train');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).to.match(/train\.tsv:2: unknown label "x{200}"… \(100000 characters\)/);
    expect(message.length).to.be.below(400);
    write('caps/scibert/sciie/train.jsonl', `{"text": ${JSON.stringify(long)}, "label": ${JSON.stringify(long)}}\n{"text": "a", "label": ${long}\n`);
    for (const f of [() => loadSplit('sciie', path.join(root, 'caps'), 'train')]) {
      try {
        f();
        expect.fail('loaded');
      } catch (err) {
        expect((err as Error).message.length, (err as Error).message.slice(0, 300)).to.be.below(400);
      }
    }
  });

  it('refuses a split without examples (a header-only file, or every row skipped), naming the file', () => {
    const head = 'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n';
    write('empty/glue/MRPC/train.tsv', `${head}1\t1\t2\tA\tB\n`);
    const dev = write('empty/glue/MRPC/dev.tsv', head);
    expectRowError(() => loadSplit('mrpc', path.join(root, 'empty'), 'dev'), `${dev}:1: no examples (only a header row); the dev split of mrpc needs at least one`);
    write('empty/glue/MRPC/dev.tsv', `${head}7\t1\t2\tA\tB\n`);
    expectRowError(() => loadSplit('mrpc', path.join(root, 'empty'), 'dev', { skipMalformed: true }), 'no examples (all 1 rows are malformed and were skipped)');
    const jsonl = write('empty/scibert/sciie/dev.jsonl', '\n  \n');
    expectRowError(() => loadSplit('sciie', path.join(root, 'empty'), 'dev'), `${jsonl}:1: no examples (no non-blank lines)`);
  });
});
