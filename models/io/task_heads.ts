/**
 * The task heads of a multitask model (Xia & Shin 2021: one shared encoder, one classification or
 * regression head per task), stored beside the encoder's checkpoint:
 *   task_heads.json         {"format": "webprune-task-heads", "version": 1,
 *                            "tasks": [{"name", "num_labels", "problem_type", "id2label"?}, ...]}
 *   task_heads.safetensors  `task_heads.<i>.weight` [num_labels, P] and `.bias` [num_labels], i
 *                            the task's index in the list, P the pooler's output width.
 * The directory stays an ordinary BertModel checkpoint (encoder + pooler) that any loader reads;
 * webprune's loadModel picks one task's head as the classifier (models/load.ts, option `task`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic.ts';
import { CheckpointError, type HostTensor } from './checkpoint.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';

export const TASK_HEADS_JSON = 'task_heads.json';
export const TASK_HEADS_WEIGHTS = 'task_heads.safetensors';

/** One task's head. */
export interface TaskHead {
  name: string;
  /** 1 for regression. */
  numLabels: number;
  labelNames?: string[];
  weight: HostTensor;
  bias: HostTensor;
}

/**
 * Writes the heads into `dir` (both files atomically, the weights first).
 * @throws CheckpointError for duplicate task names or heads whose shapes disagree with numLabels
 */
export function writeTaskHeads(dir: string, heads: readonly TaskHead[]): void {
  const where = path.join(dir, TASK_HEADS_JSON);
  const names = new Set<string>();
  for (const h of heads) {
    if (names.has(h.name)) throw new CheckpointError(`${where}: task ${h.name} given twice`);
    names.add(h.name);
    if (h.weight.shape.length !== 2 || h.weight.shape[0] !== h.numLabels || h.bias.shape.length !== 1 || h.bias.shape[0] !== h.numLabels) {
      throw new CheckpointError(`${where}: head of ${h.name} has weight [${h.weight.shape}] and bias [${h.bias.shape}] for ${h.numLabels} labels`);
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(
    path.join(dir, TASK_HEADS_WEIGHTS),
    heads.flatMap((h, i) => [
      { name: `task_heads.${i}.weight`, shape: h.weight.shape, data: h.weight.data },
      { name: `task_heads.${i}.bias`, shape: h.bias.shape, data: h.bias.data },
    ]),
    { metadata: { format: 'pt' } },
  );
  const tasks = heads.map((h) => ({
    name: h.name,
    num_labels: h.numLabels,
    problem_type: h.numLabels === 1 ? 'regression' : 'single_label_classification',
    ...(h.labelNames ? { id2label: Object.fromEntries(h.labelNames.map((n, i) => [String(i), n])) } : {}),
  }));
  writeFileAtomic(where, `${JSON.stringify({ format: 'webprune-task-heads', version: 1, tasks }, null, 2)}\n`);
}

/**
 * The task heads of a directory, or null when it has none (no task_heads.json).
 * @throws CheckpointError naming the file for malformed JSON, a missing weights file or tensor,
 *   or a shape that disagrees with num_labels
 */
export function readTaskHeads(dir: string): TaskHead[] | null {
  const file = path.join(dir, TASK_HEADS_JSON);
  if (!fs.existsSync(file)) return null;
  let json: { format?: unknown; tasks?: unknown };
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CheckpointError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (json?.format !== 'webprune-task-heads' || !Array.isArray(json.tasks)) throw new CheckpointError(`${file}: must be {"format": "webprune-task-heads", "tasks": [...]}`);
  const weightsFile = path.join(dir, TASK_HEADS_WEIGHTS);
  if (!fs.existsSync(weightsFile)) throw new CheckpointError(`${file}: lists task heads but ${TASK_HEADS_WEIGHTS} is missing`);
  const { tensors } = readSafetensors(weightsFile);
  return (json.tasks as unknown[]).map((t, i) => {
    const e = t as { name?: unknown; num_labels?: unknown; id2label?: unknown };
    if (typeof e?.name !== 'string' || !Number.isInteger(e.num_labels) || (e.num_labels as number) < 1) throw new CheckpointError(`${file}: tasks[${i}] must have a name and a positive integer num_labels`);
    const n = e.num_labels as number;
    const get = (suffix: string, shape: number[]): HostTensor => {
      const name = `task_heads.${i}.${suffix}`;
      const x = tensors.get(name);
      if (!x || !(x.data instanceof Float32Array)) throw new CheckpointError(`${weightsFile}: missing f32 tensor "${name}" (head of ${e.name})`);
      if (shape.some((d, k) => d >= 0 && x.shape[k] !== d) || x.shape.length !== shape.length) throw new CheckpointError(`${weightsFile}: tensor "${name}" has shape [${x.shape}], ${e.name} has ${n} labels`);
      return { shape: x.shape, data: x.data };
    };
    const head: TaskHead = { name: e.name, numLabels: n, weight: get('weight', [n, -1]), bias: get('bias', [n]) };
    if (e.id2label && typeof e.id2label === 'object') head.labelNames = Array.from({ length: n }, (_, k) => String((e.id2label as Record<string, unknown>)[String(k)]));
    return head;
  });
}
