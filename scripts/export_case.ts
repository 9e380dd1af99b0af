/**
 * Writes the case file of scripts/check_export.py for a model and a task's dev split: the batches
 * and webprune's logits for them (export/check_case.ts), to check an export in Python:
 *
 *   node --import ./scripts/ts-register.mjs scripts/export_case.ts --model runs/quickstart/pruned \
 *     --task mrpc --out case.json [--n 408] [--batch-size 32] [--max-seq-length 128] [--data-dir DIR]
 *   python scripts/check_export.py --inputs case.json --transformers EXPORT_DIR --onnx EXPORT_DIR/onnx/model.onnx
 */
import { parseArgs } from 'node:util';
import { defaultDataDir } from '../data/paths.ts';
import { getTask, loadSplit } from '../data/tasks.ts';
import { loadTokenizer } from '../data/tokenizer.ts';
import { initEngine } from '../engine/index.ts';
import { hostBatches, webpruneLogits, writeCheckCase } from '../export/check_case.ts';
import { loadModel } from '../models/load.ts';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    task: { type: 'string' },
    out: { type: 'string' },
    n: { type: 'string', default: '408' },
    'batch-size': { type: 'string', default: '32' },
    'max-seq-length': { type: 'string', default: '128' },
    'data-dir': { type: 'string' },
  },
});
if (!a.model || !a.task || !a.out) throw new Error('usage: scripts/export_case.ts --model DIR --task T --out case.json [--n N] [--batch-size B] [--max-seq-length L] [--data-dir DIR]');
await initEngine();
const task = getTask(a.task);
const examples = loadSplit(task, a['data-dir'] ?? defaultDataDir(), 'dev').examples.slice(0, Number(a.n));
const batches = hostBatches(loadTokenizer(a.model), examples, Number(a['batch-size']), Number(a['max-seq-length']));
const { model } = loadModel(a.model, { head: 'classification', seed: 0 });
writeCheckCase(a.out, batches, await webpruneLogits(model, batches));
console.log(`wrote ${a.out}: ${examples.length} ${task.name} dev examples in ${batches.length} batches`);
process.exit(0);
