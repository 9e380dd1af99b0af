import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  configToJson,
  namedConfig,
  parameterCount,
  parseConfig,
  readConfig,
  validateConfig,
  withLabels,
  withLayers,
  writeConfig,
} from '../../models/config.ts';
import { defaultDataDir } from '../../data/paths.ts';
import { needData } from '../helpers.ts';

/** A config.json as transformers 4.x writes it for BertForSequenceClassification (3 labels). */
const HF_CLASSIFIER = {
  _name_or_path: 'bert-base-uncased',
  architectures: ['BertForSequenceClassification'],
  attention_probs_dropout_prob: 0.1,
  classifier_dropout: null,
  gradient_checkpointing: false,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  hidden_size: 768,
  id2label: { '0': 'neg', '1': 'neu', '2': 'pos' },
  initializer_range: 0.02,
  intermediate_size: 3072,
  label2id: { neg: 0, neu: 1, pos: 2 },
  layer_norm_eps: 1e-12,
  max_position_embeddings: 512,
  model_type: 'bert',
  num_attention_heads: 12,
  num_hidden_layers: 12,
  pad_token_id: 0,
  position_embedding_type: 'absolute',
  problem_type: 'single_label_classification',
  torch_dtype: 'float32',
  transformers_version: '4.40.0',
  type_vocab_size: 2,
  use_cache: true,
  vocab_size: 30522,
};

const tiny = { vocab_size: 100, hidden_size: 64, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 128 };

function expectConfigError(json: unknown, message: string): void {
  expect(() => parseConfig(json, 'config.json')).to.throw(ConfigError, message);
}

describe('config: parsing', () => {
  it('parses a transformers classifier config.json', () => {
    const c = parseConfig(HF_CLASSIFIER, 'config.json');
    expect(c.hiddenSize).to.equal(768);
    expect(c.headSize).to.equal(64);
    expect(c.layers).to.have.length(12);
    expect(c.layers.every((l) => l.numHeads === 12 && l.intermediateSize === 3072)).to.equal(true);
    expect(c.numLabels).to.equal(3);
    expect(c.problemType).to.equal('single_label_classification');
    expect(c.id2label).to.deep.equal({ 0: 'neg', 1: 'neu', 2: 'pos' });
    expect(c.architectures).to.deep.equal(['BertForSequenceClassification']);
  });

  it('parses the original Google bert_config.json of bert-base-uncased (defaults filled in) as the base model @data', function () {
    const file = path.join(defaultDataDir(), 'vocab/bert-base-uncased/bert_config.json');
    needData(this, 'vocab/bert-base-uncased/bert_config.json');
    const c = parseConfig(JSON.parse(fs.readFileSync(file, 'utf8')), file);
    expect(c).to.deep.equal(namedConfig('base'));
  });

  it('reads regression from num_labels 1 or problem_type', () => {
    expect(parseConfig({ ...tiny, num_labels: 1 }, 'c').problemType).to.equal('regression');
    expect(parseConfig({ ...tiny, id2label: { 0: 'LABEL_0' } }, 'c').problemType).to.equal('regression');
    expect(parseConfig({ ...tiny, problem_type: 'regression', num_labels: 1 }, 'c').numLabels).to.equal(1);
    expect(parseConfig(tiny, 'c').numLabels).to.equal(2);
  });

  it('names the file and key in errors', () => {
    expectConfigError({ ...tiny, hidden_size: '768' }, 'config.json: hidden_size must be a positive integer (got "768")');
    const { vocab_size: _, ...noVocab } = tiny;
    expectConfigError(noVocab, 'config.json: vocab_size is required');
    expectConfigError({ ...tiny, num_attention_heads: 0 }, 'num_attention_heads must be a positive integer (got 0)');
    expectConfigError({ ...tiny, num_attention_heads: 5 }, 'hidden_size 64 is not divisible by num_attention_heads 5');
    expectConfigError({ ...tiny, hidden_act: 'relu' }, 'hidden_act "relu" is not supported');
    expectConfigError({ ...tiny, model_type: 'roberta' }, 'model_type must be "bert"');
    expectConfigError({ ...tiny, layer_norm_eps: -1 }, 'layer_norm_eps must be a positive number');
    expectConfigError({ ...tiny, hidden_dropout_prob: 1.5 }, 'hidden_dropout_prob must be a number in [0, 1)');
    expectConfigError({ ...tiny, pad_token_id: 100 }, 'pad_token_id 100 must be below vocab_size 100');
    expectConfigError({ ...tiny, position_embedding_type: 'relative_key' }, 'position_embedding_type "relative_key" is not supported');
    expectConfigError([1], 'config.json: must be a JSON object');
  });

  it('checks the task head keys against each other', () => {
    expectConfigError({ ...tiny, num_labels: 3, id2label: { 0: 'a', 1: 'b' } }, 'num_labels 3 disagrees with id2label, which has 2 entries');
    expectConfigError({ ...tiny, num_labels: 2, problem_type: 'regression' }, 'problem_type "regression" needs num_labels = 1');
    expectConfigError({ ...tiny, num_labels: 1, problem_type: 'single_label_classification' }, 'needs num_labels ≥ 2');
    expectConfigError({ ...tiny, problem_type: 'multi_label_classification' }, 'problem_type "multi_label_classification" is not supported');
    expectConfigError({ ...tiny, id2label: { 0: 'a', 2: 'b' } }, 'id2label key "2" must be an index in [0, 2)');
    expectConfigError({ ...tiny, id2label: { 0: 'a', 1: 'b' }, label2id: { a: 1, b: 0 } }, 'label2id["a"] = 1 disagrees with id2label["1"] = "b"');
  });

  it('validates webprune_layers and pruned_heads', () => {
    expectConfigError({ ...tiny, webprune_layers: [] }, 'webprune_layers must be an array of num_hidden_layers = 3 entries (got 0 entries)');
    const layers = [
      { num_attention_heads: 4, intermediate_size: 128 },
      { num_attention_heads: -1, intermediate_size: 128 },
      { num_attention_heads: 4, intermediate_size: 128 },
    ];
    expectConfigError({ ...tiny, webprune_layers: layers }, 'webprune_layers[1].num_attention_heads must be a non-negative integer (got -1)');
    expectConfigError({ ...tiny, pruned_heads: { 5: [0] } }, 'pruned_heads key "5" is not a layer index');
    expectConfigError({ ...tiny, pruned_heads: { 0: [4] } }, 'pruned_heads["0"] must be head indices in [0, 4)');
    const ok = layers.map((l) => ({ ...l, num_attention_heads: 4 }));
    expectConfigError({ ...tiny, webprune_layers: ok, pruned_heads: { 1: [0] } }, 'webprune_layers[1].num_attention_heads = 4 disagrees with pruned_heads, which leaves 3 heads');
  });

  it('derives per-layer head counts from transformers pruned_heads', () => {
    const c = parseConfig({ ...tiny, pruned_heads: { 0: [1, 3], 2: [0, 1, 2, 3] } }, 'c');
    expect(c.layers.map((l) => l.numHeads)).to.deep.equal([2, 4, 0]);
    expect(c.layers.every((l) => l.intermediateSize === 128)).to.equal(true);
  });
});

describe('config: writing', () => {
  it('round-trips a pruned config with a layer without MHA and a layer without FFN', () => {
    const base = withLabels(namedConfig('mini'), 3, ['x', 'y', 'z']);
    const pruned = withLayers(base, [
      { numHeads: 4, intermediateSize: 1024 },
      { numHeads: 0, intermediateSize: 700 },
      { numHeads: 2, intermediateSize: 0 },
      { numHeads: 1, intermediateSize: 13 },
    ]);
    const json = configToJson(pruned);
    expect(json['webprune_layers']).to.deep.equal([
      { num_attention_heads: 4, intermediate_size: 1024 },
      { num_attention_heads: 0, intermediate_size: 700 },
      { num_attention_heads: 2, intermediate_size: 0 },
      { num_attention_heads: 1, intermediate_size: 13 },
    ]);
    expect(json['pruned_heads']).to.equal(undefined); // a layer has 0 heads: transformers could not run it
    expect(json['num_attention_heads']).to.equal(4);
    expect(json['attention_head_size']).to.equal(undefined);
    expect(json['id2label']).to.deep.equal({ 0: 'x', 1: 'y', 2: 'z' });
    expect(json['label2id']).to.deep.equal({ x: 0, y: 1, z: 2 });
    expect(parseConfig(JSON.parse(JSON.stringify(json)), 'c')).to.deep.equal(pruned);
  });

  it('writes transformers pruned_heads when only heads are pruned and every layer keeps one', () => {
    const pruned = withLayers(namedConfig('mini'), [
      { numHeads: 4, intermediateSize: 1024 },
      { numHeads: 2, intermediateSize: 1024 },
      { numHeads: 1, intermediateSize: 1024 },
      { numHeads: 3, intermediateSize: 1024 },
    ]);
    const json = configToJson(pruned);
    expect(json['pruned_heads']).to.deep.equal({ 1: [2, 3], 2: [1, 2, 3], 3: [3] });
    expect(parseConfig(JSON.parse(JSON.stringify(json)), 'c')).to.deep.equal(pruned);
    const { webprune_layers: _, ...onlyPruned } = json;
    expect(parseConfig(onlyPruned, 'c').layers).to.deep.equal(pruned.layers);
  });

  it('writes no extension keys for a dense config, and attention_head_size when it is not H/A', () => {
    const dense = namedConfig('tiny');
    const json = configToJson(dense);
    expect(json).to.not.have.any.keys('webprune_layers', 'attention_head_size', 'pruned_heads');
    expect(json['model_type']).to.equal('bert');
    expect(json['id2label']).to.deep.equal({ 0: 'LABEL_0', 1: 'LABEL_1' });
    expect(parseConfig(json, 'c')).to.deep.equal(dense); // placeholder names are not kept
    const wide = { ...dense, headSize: 32 };
    expect(configToJson(wide)['attention_head_size']).to.equal(32);
    expect(parseConfig(configToJson(wide), 'c').headSize).to.equal(32);
  });

  it('writeConfig / readConfig through a directory, with clear errors for missing files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-config-'));
    try {
      const c = withLabels(namedConfig('small'), 1);
      writeConfig(dir, c);
      expect(readConfig(dir)).to.deep.equal(c);
      expect(() => readConfig(path.join(dir, 'nope'))).to.throw('model directory does not exist');
      const empty = path.join(dir, 'empty');
      fs.mkdirSync(empty);
      expect(() => readConfig(empty)).to.throw(`${path.join(empty, 'config.json')}: not found`);
      fs.writeFileSync(path.join(empty, 'config.json'), '{"vocab_size": ');
      expect(() => readConfig(empty)).to.throw(ConfigError, 'config.json: not valid JSON');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects invalid in-memory configs', () => {
    expect(() => withLayers(namedConfig('tiny'), [{ numHeads: 2, intermediateSize: 512 }])).to.throw(ConfigError, 'layers must have numLayers = 2 entries');
    expect(() => withLayers(namedConfig('tiny'), [{ numHeads: 2, intermediateSize: 512 }, { numHeads: 1.5, intermediateSize: 3 }])).to.throw(ConfigError, 'layers[1]');
    expect(() => validateConfig({ ...namedConfig('tiny'), vocabSize: 0 })).to.throw(ConfigError, 'vocab_size must be a positive integer');
    expect(() => withLabels(namedConfig('tiny'), 2, ['a'])).to.throw(ConfigError, '1 label names for 2 labels');
  });
});

describe('config: named models and parameter counts', () => {
  it('has the four project sizes', () => {
    const shapes = ['tiny', 'mini', 'small', 'base'].map((n) => {
      const c = namedConfig(n);
      return [c.numLayers, c.hiddenSize, c.numHeads, c.intermediateSize, c.headSize, c.vocabSize, c.maxPositionEmbeddings];
    });
    expect(shapes).to.deep.equal([
      [2, 128, 2, 512, 64, 30522, 512],
      [4, 256, 4, 1024, 64, 30522, 512],
      [4, 512, 8, 2048, 64, 30522, 512],
      [12, 768, 12, 3072, 64, 30522, 512],
    ]);
    expect(() => namedConfig('huge')).to.throw('unknown model size "huge" (known: tiny, mini, small, base)');
  });

  it('counts prunable parameters per layer from the structure', () => {
    // base, by hand: MHA 4·768·768 + 3·768 + 768 = 2,362,368; FFN 2·768·3072 + 3072 + 768 = 4,722,432.
    const base = parameterCount(namedConfig('base'));
    expect(base.perLayer[0]).to.deep.equal({ mha: 2362368, ffn: 4722432 });
    expect(base.total).to.equal(85017600);
    // tiny with layer 0 at 1 head / FFN 0 and layer 1 at 0 heads / FFN 10:
    // layer 0 MHA 4·128·64 + 3·64 + 128 = 33,088; layer 1 FFN 2·128·10 + 10 + 128 = 2,698.
    const pruned = parameterCount(withLayers(namedConfig('tiny'), [{ numHeads: 1, intermediateSize: 0 }, { numHeads: 0, intermediateSize: 10 }]));
    expect(pruned.perLayer).to.deep.equal([{ mha: 33088, ffn: 0 }, { mha: 0, ffn: 2698 }]);
    expect(pruned).to.include({ mha: 33088, ffn: 2698, total: 35786 });
  });
});
