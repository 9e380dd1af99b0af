import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultDataDir } from '../../data/paths.ts';
import { BertTokenizer, loadTokenizer, parseVocab } from '../../data/tokenizer.ts';
import { needData } from '../helpers.ts';

const vocabDir = path.join(defaultDataDir(), 'vocab/bert-base-uncased');

/** Ids of tokens looked up directly in vocab.txt (line number − 1), independently of the tokenizer. */
function vocabIds(): Map<string, number> {
  const lines = fs.readFileSync(path.join(vocabDir, 'vocab.txt'), 'utf8').split('\n');
  return new Map(lines.map((t, i) => [t, i]));
}

/**
 * An independent reference: BERT's BasicTokenizer (clean text, isolate CJK, lower-case, strip accents,
 * split on whitespace and punctuation) then greedy longest-match-first WordPiece, written from the
 * description in Devlin et al.'s tokenization.py, not from the library.
 */
function referenceEncode(text: string, vocab: Map<string, number>): number[] {
  const isCjk = (cp: number) =>
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
  const isPunct = (ch: string) => {
    const cp = ch.codePointAt(0)!;
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || /\p{P}/u.test(ch);
  };
  let s = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || /\p{Zs}/u.test(ch)) s += ' ';
    else if (cp === 0 || cp === 0xfffd || /\p{C}/u.test(ch)) continue;
    else if (isCjk(cp)) s += ` ${ch} `;
    else s += ch;
  }
  s = s.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
  const words: string[] = [];
  for (const w of s.split(' ')) {
    let cur = '';
    for (const ch of w) {
      if (isPunct(ch)) {
        if (cur !== '') words.push(cur);
        words.push(ch);
        cur = '';
      } else cur += ch;
    }
    if (cur !== '') words.push(cur);
  }
  const ids: number[] = [];
  const unk = vocab.get('[UNK]')!;
  for (const w of words) {
    const chars = [...w];
    if (chars.length > 100) {
      ids.push(unk);
      continue;
    }
    const pieces: number[] = [];
    let start = 0;
    let bad = false;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      while (start < end) {
        const sub = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        found = vocab.get(sub);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) {
        bad = true;
        break;
      }
      pieces.push(found);
      start = end;
    }
    if (bad) ids.push(unk);
    else ids.push(...pieces);
  }
  return ids;
}

describe('tokenizer: bert-base-uncased vocabulary @data', function () {
  let tok: BertTokenizer;
  let ids: Map<string, number>;
  before(function () {
    needData(this, 'vocab/bert-base-uncased/vocab.txt');
    tok = loadTokenizer(vocabDir);
    ids = vocabIds();
  });

  it('has the special ids and size of bert-base-uncased', () => {
    expect([tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId]).to.deep.equal([0, 100, 101, 102, 103]);
    expect(tok.vocabSize).to.equal(30522);
    expect(tok.idToToken(7592)).to.equal('hello');
    expect(tok.tokenToId('##ing')).to.equal(ids.get('##ing'));
    expect(() => tok.idToToken(30522)).to.throw(RangeError);
  });

  it('encodes the transformers documentation example', () => {
    // transformers docs: tokenizer("Hello, my dog is cute") with bert-base-uncased.
    const e = tok.encodePair('Hello, my dog is cute', undefined, 8);
    expect(Array.from(e.inputIds)).to.deep.equal([101, 7592, 1010, 2026, 3899, 2003, 10140, 102]);
    expect(Array.from(e.tokenTypeIds)).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(e.attentionMask)).to.deep.equal([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(tok.decode(e.inputIds)).to.equal('hello, my dog is cute');
  });

  it('lower-cases and strips accents', () => {
    expect(tok.tokenize('Héllo WORLD')).to.deep.equal(['hello', 'world']);
    expect(tok.encode('Héllo WORLD')).to.deep.equal([ids.get('hello'), ids.get('world')]);
    expect(tok.encode('NAÏVE Café')).to.deep.equal(tok.encode('naive cafe'));
  });

  it('maps unknown characters and over-long words to [UNK], splits Chinese characters', () => {
    expect(tok.encode('snow ☃ man')).to.deep.equal([ids.get('snow'), 100, ids.get('man')]);
    expect(tok.tokenize('北京是中国')).to.deep.equal(['北', '京', '[UNK]', '中', '国']); // 是 is not in the vocabulary
    expect(tok.encode('北京')).to.deep.equal([ids.get('北'), ids.get('京')]);
    // A CJK ideograph outside the BMP (U+20000) is isolated too: [UNK] then "x".
    expect(tok.encode('\u{20000}x')).to.deep.equal([100, ids.get('x')]);
    expect(tok.encode('a'.repeat(101))).to.deep.equal([100]);
    const hundred = tok.encode('a'.repeat(100));
    expect(hundred).to.not.include(100);
    expect(hundred.length).to.be.greaterThan(1);
    expect(tok.tokenize('unaffable')).to.deep.equal(['una', '##ffa', '##ble']);
    expect(tok.encode('a\u0000b\u200b c')).to.deep.equal([ids.get('ab'), ids.get('c')]); // control/format chars removed
  });

  it('builds [CLS] a [SEP] b [SEP] with token types and padding', () => {
    const e = tok.encodePair('Hello world', 'dog', 8);
    expect(Array.from(e.inputIds)).to.deep.equal([101, 7592, 2088, 102, 3899, 102, 0, 0]);
    expect(Array.from(e.tokenTypeIds)).to.deep.equal([0, 0, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(e.attentionMask)).to.deep.equal([1, 1, 1, 1, 1, 1, 0, 0]);
  });

  it('truncates pairs longest-first like Hugging Face tokenizers', () => {
    const words = (n: number, w: string) => Array.from({ length: n }, () => w).join(' ');
    // a: 10 tokens, b: 3, budget 10 - 3 = 7: a is cut to 4, b kept.
    let e = tok.encodePair(words(10, 'dog'), words(3, 'cat'), 10);
    expect(Array.from(e.inputIds)).to.deep.equal([101, 3899, 3899, 3899, 3899, 102, 4937, 4937, 4937, 102]);
    // a: 5, b: 5, budget 7: the first text keeps ⌊7/2⌋ = 3 on ties, the second 4.
    e = tok.encodePair(words(5, 'dog'), words(5, 'cat'), 10);
    expect(Array.from(e.inputIds)).to.deep.equal([101, 3899, 3899, 3899, 102, 4937, 4937, 4937, 4937, 102]);
    // a: 2, b: 20, budget 7: a kept, b cut to 5.
    e = tok.encodePair(words(2, 'dog'), words(20, 'cat'), 10);
    expect(Array.from(e.inputIds)).to.deep.equal([101, 3899, 3899, 102, 4937, 4937, 4937, 4937, 4937, 102]);
    expect(Array.from(e.tokenTypeIds)).to.deep.equal([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    // single text truncated to maxLength − 2
    e = tok.encodePair(words(9, 'dog'), undefined, 5);
    expect(Array.from(e.inputIds)).to.deep.equal([101, 3899, 3899, 3899, 102]);
    expect(() => tok.encodePair('a', 'b', 2)).to.throw('maxLength 2 cannot hold the 3 special tokens of a pair');
    expect(() => tok.encodePair('a', undefined, 1)).to.throw('cannot hold the 2 special tokens');
  });

  it('encodes batches into flat [batch × maxLength] arrays', () => {
    const examples = [{ textA: 'Hello world', textB: 'dog' }, { textA: 'Hello, my dog is cute' }, { textA: 'a b c d e f g h', textB: 'x y z' }];
    const b = tok.encodeBatch(examples, 9);
    expect(b.batchSize).to.equal(3);
    expect(b.inputIds.length).to.equal(27);
    examples.forEach((ex, i) => {
      const e = tok.encodePair(ex.textA, ex.textB, 9);
      expect(Array.from(b.inputIds.subarray(9 * i, 9 * i + 9))).to.deep.equal(Array.from(e.inputIds));
      expect(Array.from(b.tokenTypeIds.subarray(9 * i, 9 * i + 9))).to.deep.equal(Array.from(e.tokenTypeIds));
      expect(Array.from(b.attentionMask.subarray(9 * i, 9 * i + 9))).to.deep.equal(Array.from(e.attentionMask));
    });
  });

  it('agrees with an independent greedy WordPiece on 200 MRPC sentences', function () {
    const file = path.join(defaultDataDir(), 'glue/MRPC/train.tsv');
    needData(this, 'glue/MRPC/train.tsv');
    const rows = fs.readFileSync(file, 'utf8').split('\n').slice(1, 101).map((l) => l.split('\t'));
    const sentences = rows.flatMap((r) => [r[3]!, r[4]!]);
    expect(sentences).to.have.length(200);
    let pieces = 0;
    for (const s of sentences) {
      const got = tok.encode(s);
      expect(got, s).to.deep.equal(referenceEncode(s, ids));
      pieces += got.filter((id) => tok.idToToken(id).startsWith('##')).length;
    }
    expect(pieces).to.be.greaterThan(20); // the sample exercises sub-word continuation
  });

  it('saves vocab.txt + tokenizer.json + tokenizer_config.json that load back identically', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-tok-'));
    try {
      tok.save(dir);
      expect(fs.readFileSync(path.join(dir, 'vocab.txt'), 'utf8')).to.equal(fs.readFileSync(path.join(vocabDir, 'vocab.txt'), 'utf8'));
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
      expect(config).to.include({ tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: 512 });
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
      expect(json.normalizer).to.deep.equal({ type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: true, lowercase: true });
      expect(json.model.max_input_chars_per_word).to.equal(100);
      const again = loadTokenizer(dir);
      for (const s of ['Hello, my dog is cute', 'Héllo WORLD', '北京 ☃ unaffable']) expect(again.encode(s)).to.deep.equal(tok.encode(s));
      // Without tokenizer.json the vocab.txt path is used.
      fs.rmSync(path.join(dir, 'tokenizer.json'));
      expect(loadTokenizer(dir).encode('Héllo WORLD')).to.deep.equal([7592, 2088]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tokenizer: small vocabularies and errors', () => {
  it('truncates as Hugging Face tokenizers 0.23 does (LongestFirst)', () => {
    // [lenA, lenB, budget, keptA, keptB], observed with tokenizers.Tokenizer.enable_truncation(strategy='longest_first').
    const table = [
      [5, 5, 7, 3, 4], [6, 5, 7, 4, 3], [5, 6, 7, 3, 4], [10, 3, 7, 4, 3], [3, 10, 7, 3, 4], [6, 6, 7, 3, 4],
      [4, 5, 7, 3, 4], [5, 4, 7, 4, 3], [20, 20, 7, 3, 4], [9, 2, 7, 5, 2], [2, 9, 7, 2, 5], [1, 1, 7, 1, 1],
      [7, 6, 7, 4, 3], [5, 5, 6, 3, 3], [7, 5, 6, 3, 3], [20, 20, 6, 3, 3], [5, 5, 8, 4, 4], [7, 5, 8, 4, 4],
      [5, 7, 8, 4, 4],
    ];
    for (const [na, nb, budget, ka, kb] of table) {
      const a = Array.from({ length: na! }, (_, i) => i);
      const b = Array.from({ length: nb! }, (_, i) => 100 + i);
      BertTokenizer.truncateLongestFirst(a, b, budget!);
      expect([a.length, b.length], `${na}, ${nb}, ${budget}`).to.deep.equal([ka, kb]);
      expect(a).to.deep.equal(Array.from({ length: ka! }, (_, i) => i)); // the ends are dropped
      expect(b).to.deep.equal(Array.from({ length: kb! }, (_, i) => 100 + i));
    }
  });

  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'cat', 'sat', '##s', 'Cat', '.'];

  it('builds a tokenizer from a vocabulary list, cased or uncased', () => {
    const uncased = BertTokenizer.fromVocab(vocab);
    expect(uncased.encode('The cats sat.')).to.deep.equal([5, 6, 8, 7, 10]);
    expect([uncased.padId, uncased.unkId, uncased.clsId, uncased.sepId, uncased.maskId]).to.deep.equal([0, 1, 2, 3, 4]);
    const cased = BertTokenizer.fromVocab(vocab, { lowercase: false });
    expect(cased.encode('Cat cat CAT')).to.deep.equal([9, 6, 1]);
  });

  it('rejects bad vocabularies and directories', () => {
    expect(() => BertTokenizer.fromVocab(['a', 'b'])).to.throw('vocabulary lacks the special token [PAD]');
    expect(() => parseVocab('a\nb\na\n', 'v.txt')).to.throw('v.txt:3: duplicate token "a" (first on line 1)');
    expect(() => parseVocab('a\n\nb\n', 'v.txt')).to.throw('v.txt:2: empty token');
    expect(parseVocab('a\r\nb\r\n', 'v.txt')).to.deep.equal(['a', 'b']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-tok-'));
    try {
      expect(() => loadTokenizer(dir)).to.throw(`${dir}: no tokenizer.json or vocab.txt`);
      fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": {"type": "BPE"}}');
      expect(() => loadTokenizer(dir)).to.throw(`${path.join(dir, 'tokenizer.json')}: model must be a WordPiece model`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
