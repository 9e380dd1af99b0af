import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DOC_SEPARATOR, SequencePacker, listCorpusFiles, pretokenize, readDocuments, readTokenShard } from '../../data/corpus.ts';
import type { TokenShard } from '../../data/corpus.ts';
import { defaultDataDir } from '../../data/paths.ts';
import { BertTokenizer, loadTokenizer } from '../../data/tokenizer.ts';
import { needData } from '../helpers.ts';

// A vocabulary where word wN has id N + 5 (specials at 0..4 like BERT's [PAD] [UNK] [CLS] [SEP] [MASK]).
const WORDS = Array.from({ length: 60 }, (_, i) => `w${i}`);
const tokenizer = BertTokenizer.fromVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS]);
const id = (w: number) => w + 5;
const CLS = 2;
const SEP = 3;

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-corpus-'));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Documents of paragraphs of words; returns the file text (one paragraph per line, blank line between documents). */
function corpusText(docs: number[][][]): string {
  return docs.map((d) => d.map((p) => p.map((w) => `W${w}`).join(' ')).join('\n')).join('\n\n') + '\n';
}

/** The expected token stream of documents: ids, then DOC_SEPARATOR after each document. */
function stream(docs: number[][][]): number[] {
  return docs.flatMap((d) => [...d.flat().map(id), DOC_SEPARATOR]);
}

const DOCS_A = [[[0, 1, 2], [3, 4]], [[5]], [[6, 7, 8, 9, 10, 11, 12]]];
const DOCS_B = [[[20, 21], [22, 23, 24]], [[25, 26, 27, 28]], [[29, 30], [31]], [[32, 33, 34, 35, 36, 37, 38, 39]]];

describe('corpus: files and documents', () => {
  it('lists *.txt(.gz) of a directory without valid* unless asked; explicit files are kept', () => {
    const dir = path.join(root, 'list');
    fs.mkdirSync(dir);
    for (const f of ['train-b.txt.gz', 'train-a.txt.gz', 'extra.txt', 'valid.txt.gz', 'notes.md', 'x.txt.bak']) fs.writeFileSync(path.join(dir, f), '');
    expect(listCorpusFiles(dir).map((f) => path.basename(f))).to.deep.equal(['extra.txt', 'train-a.txt.gz', 'train-b.txt.gz']);
    expect(listCorpusFiles(dir, { includeValid: true }).map((f) => path.basename(f))).to.include('valid.txt.gz');
    expect(listCorpusFiles([path.join(dir, 'valid.txt.gz')])).to.have.length(1);
    expect(() => listCorpusFiles(path.join(dir, 'nope'))).to.throw('corpus path does not exist');
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    expect(() => listCorpusFiles(empty)).to.throw('no corpus files');
  });

  it('reads documents from .txt and .txt.gz: blank lines separate, CRLF accepted', async () => {
    const text = 'p1 a\np1 b\n\n\n  \np2\r\n\r\np3 a\np3 b';
    fs.writeFileSync(path.join(root, 'docs.txt'), text);
    fs.writeFileSync(path.join(root, 'docs.txt.gz'), zlib.gzipSync(text));
    for (const f of ['docs.txt', 'docs.txt.gz']) {
      const docs: string[][] = [];
      for await (const d of readDocuments(path.join(root, f))) docs.push(d);
      expect(docs).to.deep.equal([['p1 a', 'p1 b'], ['p2'], ['p3 a', 'p3 b']]);
    }
  });

  it('reports a corrupt gzip file', async () => {
    const file = path.join(root, 'bad.txt.gz');
    fs.writeFileSync(file, Buffer.concat([zlib.gzipSync('a\nb\n').subarray(0, 12), Buffer.from('garbage')]));
    let caught: unknown;
    try {
      for await (const _ of readDocuments(file)) {
        /* drain */
      }
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.include(file);
  });
});

describe('corpus: pretokenize', () => {
  let files: string[];
  before(() => {
    const dir = path.join(root, 'src');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'a.txt'), corpusText(DOCS_A));
    fs.writeFileSync(path.join(dir, 'b.txt.gz'), zlib.gzipSync(corpusText(DOCS_B)));
    files = listCorpusFiles(dir);
  });

  it('writes u16 shards with a separator after each document (lower-cased by the tokenizer)', async () => {
    const shards = await pretokenize(files, tokenizer, path.join(root, 'cache'));
    expect(shards.map((s) => path.basename(s.source))).to.deep.equal(['a.txt', 'b.txt.gz']);
    expect(Array.from(readTokenShard(shards[0]!.path))).to.deep.equal(stream(DOCS_A));
    expect(Array.from(readTokenShard(shards[1]!.path))).to.deep.equal(stream(DOCS_B));
    expect(shards.map((s) => [s.numDocuments, s.numTokens])).to.deep.equal([
      [3, stream(DOCS_A).length],
      [4, stream(DOCS_B).length],
    ]);
  });

  it('reuses the cache until the source or the tokenizer changes', async () => {
    const cache = path.join(root, 'cache2');
    const progress: boolean[] = [];
    const onProgress = (p: { cached: boolean }) => progress.push(p.cached);
    await pretokenize(files, tokenizer, cache, { onProgress });
    const [first] = await pretokenize(files, tokenizer, cache, { onProgress });
    expect(progress).to.deep.equal([false, false, true, true]);
    // Same size, new mtime: re-tokenized.
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(files[0]!, later, later);
    progress.length = 0;
    await pretokenize(files, tokenizer, cache, { onProgress });
    expect(progress).to.deep.equal([false, true]);
    // Another tokenizer (different vocabulary): everything re-tokenized.
    const other = BertTokenizer.fromVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS, 'extra']);
    progress.length = 0;
    const shards = await pretokenize(files, other, cache, { onProgress });
    expect(progress).to.deep.equal([false, false]);
    expect(shards[0]!.path).to.equal(first!.path);
    // A truncated cache file is not trusted.
    fs.truncateSync(shards[1]!.path, 4);
    progress.length = 0;
    await pretokenize(files, other, cache, { onProgress });
    expect(progress).to.deep.equal([true, false]);
    expect(fs.readdirSync(cache).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
  });
});

describe('corpus: SequencePacker', () => {
  let shards: TokenShard[];
  before(async () => {
    const dir = path.join(root, 'pack');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'a.txt'), corpusText(DOCS_A));
    fs.writeFileSync(path.join(dir, 'b.txt.gz'), zlib.gzipSync(corpusText(DOCS_B)));
    shards = await pretokenize(listCorpusFiles(dir), tokenizer, path.join(root, 'pack-cache'));
  });

  /** Expected sequences in corpus order: [CLS] + consecutive L-token chunks of each shard ([SEP] for boundaries) + [SEP]. */
  function expectedSequences(maxSeqLength: number): number[][] {
    const L = maxSeqLength - 2;
    const out: number[][] = [];
    for (const docs of [DOCS_A, DOCS_B]) {
      const s = stream(docs).map((t) => (t === DOC_SEPARATOR ? SEP : t));
      for (let start = 0; start + L <= s.length; start += L) out.push([CLS, ...s.slice(start, start + L), SEP]);
    }
    return out;
  }

  it('packs exactly, in corpus order without shuffling, and wraps to the next epoch', () => {
    const packer = new SequencePacker(shards, { maxSeqLength: 7, seed: 0, shuffle: false, clsId: CLS, sepId: SEP });
    const expected = expectedSequences(7);
    // a: 16 + 3 = 19 entries → 3 chunks of 5; b: 20 + 4 = 24 → 4 chunks.
    expect(packer.sequencesPerEpoch).to.equal(7);
    expect(expected).to.have.length(7);
    const got = Array.from({ length: 9 }, () => Array.from(packer.next()));
    expect(got.slice(0, 7)).to.deep.equal(expected);
    expect(got.slice(7)).to.deep.equal(expected.slice(0, 2));
    expect(packer.epoch).to.equal(1);
    expect(got[0]).to.deep.equal([CLS, id(0), id(1), id(2), id(3), id(4), SEP]);
    expect(got[1]).to.deep.equal([CLS, SEP, id(5), SEP, id(6), id(7), SEP]); // document boundaries become [SEP]
  });

  it('shuffles chunks across shards per epoch, deterministically per seed', () => {
    const make = (seed: number) => new SequencePacker(shards, { maxSeqLength: 5, seed, clsId: CLS, sepId: SEP });
    const p = make(42);
    const n = p.sequencesPerEpoch;
    const expected = expectedSequences(5).map((s) => s.join(','));
    expect(n).to.equal(expected.length);
    const epoch0 = Array.from({ length: n }, () => Array.from(p.next()).join(','));
    const epoch1 = Array.from({ length: n }, () => Array.from(p.next()).join(','));
    expect([...epoch0].sort()).to.deep.equal([...expected].sort()); // every chunk once per epoch
    expect([...epoch1].sort()).to.deep.equal([...expected].sort());
    expect(epoch0).to.not.deep.equal(expected); // shuffled
    expect(epoch1).to.not.deep.equal(epoch0); // a new order each epoch
    // Chunks of both shards are interleaved in the first half of the epoch.
    const fromA = new Set(expected.slice(0, Math.floor(19 / 3)));
    const firstHalf = epoch0.slice(0, Math.floor(n / 2));
    expect(firstHalf.some((s) => fromA.has(s)) && firstHalf.some((s) => !fromA.has(s))).to.equal(true);
    const q = make(42);
    expect(Array.from({ length: n }, () => Array.from(q.next()).join(','))).to.deep.equal(epoch0);
    const r = make(43);
    expect(Array.from({ length: n }, () => Array.from(r.next()).join(','))).to.not.deep.equal(epoch0);
  });

  it('resumes exactly from a saved state, across epoch boundaries', () => {
    const opts = { maxSeqLength: 6, seed: 7, clsId: CLS, sepId: SEP };
    const uninterrupted = new SequencePacker(shards, opts);
    const all = Array.from(uninterrupted.nextBatch(40));
    const first = new SequencePacker(shards, opts);
    for (const consumed of [0, 3, 11, 17, 29]) {
      const a = new SequencePacker(shards, opts);
      if (consumed > 0) a.nextBatch(consumed);
      const saved = JSON.parse(JSON.stringify(a.state()));
      const b = new SequencePacker(shards, opts);
      b.restore(saved);
      expect(Array.from(b.nextBatch(40 - consumed)), `after ${consumed}`).to.deep.equal(all.slice(consumed * 6));
    }
    expect(first.state()).to.include({ epoch: 0, index: 0, seed: 7, maxSeqLength: 6, shuffle: true });
  });

  it('refuses a state from another configuration or corpus', () => {
    const p = new SequencePacker(shards, { maxSeqLength: 6, seed: 7, clsId: CLS, sepId: SEP });
    const state = p.state();
    expect(() => new SequencePacker(shards, { maxSeqLength: 6, seed: 8, clsId: CLS, sepId: SEP }).restore(state)).to.throw('state has seed 7, this packer 8');
    expect(() => new SequencePacker(shards, { maxSeqLength: 5, seed: 7, clsId: CLS, sepId: SEP }).restore(state)).to.throw('maxSeqLength');
    expect(() => new SequencePacker(shards.slice(1), { maxSeqLength: 6, seed: 7, clsId: CLS, sepId: SEP }).restore(state)).to.throw('corpus');
    expect(() => p.restore({ ...state, index: 1e9 })).to.throw('bad position');
    expect(() => new SequencePacker(shards, { maxSeqLength: 2, seed: 1, clsId: CLS, sepId: SEP })).to.throw('maxSeqLength must be an integer ≥ 3');
    expect(() => new SequencePacker([new Uint16Array(3)], { maxSeqLength: 10, seed: 1, clsId: CLS, sepId: SEP })).to.throw('no shard holds 8 tokens');
  });
});

describe('corpus: real data @data @slow', function () {
  const valid = path.join(defaultDataDir(), 'corpus/valid.txt.gz');
  const vocabDir = path.join(defaultDataDir(), 'vocab/bert-base-uncased');
  before(function () {
    needData(this, path.relative(defaultDataDir(), valid), 'vocab/bert-base-uncased');
  });

  it('tokenizes the held-out shard and packs 128-token sequences', async function () {
    this.timeout(300000);
    const bert = loadTokenizer(vocabDir);
    // Independent document count: blank-line-separated blocks of the decompressed file.
    const text = zlib.gunzipSync(fs.readFileSync(valid)).toString('utf8');
    const docCount = text.split(/\n[ \t\r]*\n/).filter((d) => d.trim() !== '').length;
    const [shard] = await pretokenize([valid], bert, path.join(root, 'real-cache'));
    expect(shard!.numDocuments).to.equal(docCount);
    const tokens = readTokenShard(shard!.path);
    expect(tokens.filter((t) => t === DOC_SEPARATOR).length).to.equal(docCount);
    expect(tokens.every((t) => t === DOC_SEPARATOR || t < bert.vocabSize)).to.equal(true);
    // The first paragraph of the file, tokenized on its own, opens the stream.
    const firstLine = text.slice(0, text.indexOf('\n'));
    const firstIds = bert.encode(firstLine);
    expect(Array.from(tokens.subarray(0, firstIds.length))).to.deep.equal(firstIds);
    const packer = new SequencePacker([shard!], { maxSeqLength: 128, seed: 1, shuffle: false, clsId: bert.clsId, sepId: bert.sepId });
    expect(packer.sequencesPerEpoch).to.equal(Math.floor(shard!.numTokens / 126));
    const seq = packer.next();
    expect(seq[0]).to.equal(bert.clsId);
    expect(seq[127]).to.equal(bert.sepId);
    expect(Array.from(seq.subarray(1, 1 + Math.min(126, firstIds.length)))).to.deep.equal(firstIds.slice(0, 126));
  });
});
