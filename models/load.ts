/**
 * Building a GPU model from a checkpoint directory (or a named config), and saving one.
 *
 * A model for a task may start from any checkpoint: an MLM-pretrained encoder (its pooler, if any,
 * is kept; missing pooler and classifier are initialised as transformers does), a base BertModel, or
 * a classifier of another task (its classifier is replaced when the label count differs).
 */
import { existsSync } from 'node:fs';
import { Bert, type HeadKind, initialValues } from './bert.ts';
import { type BertConfig, NAMED_SIZES, namedConfig, withLabels } from './config.ts';
import { type HostTensor, loadCheckpoint, saveCheckpoint, type SaveCheckpointOptions } from './io/checkpoint.ts';
import { type TaskHead, readTaskHeads } from './io/task_heads.ts';

export interface LoadOptions {
  /** The head the model must have. */
  head: HeadKind;
  /** Outputs of a classification head (1 = regression); default: the checkpoint's. */
  numLabels?: number;
  /** Label names for config.json id2label. */
  labelNames?: readonly string[];
  /** Seeds the initialisation of parameters the checkpoint lacks. */
  seed: number;
  /** Initialise the classifier afresh even when the checkpoint's has the right shape. */
  freshClassifier?: boolean;
  /**
   * For a multitask model directory (task_heads.json, models/io/task_heads.ts): the task whose head
   * becomes the classifier. Ignored for directories without task heads.
   */
  task?: string;
}

export interface LoadedModel {
  model: Bert;
  /** Parameters initialised here rather than loaded (e.g. a new classifier). */
  initialised: string[];
  /** The checkpoint directory, or null for a named config with random weights. */
  source: string | null;
}

/** True when `spec` names one of the project's configs (tiny, mini, small, base) rather than a directory. */
export function isNamedConfig(spec: string): boolean {
  return Object.hasOwn(NAMED_SIZES, spec) && !existsSync(spec);
}

/**
 * A model from a checkpoint directory or a named config (random weights).
 * @throws Error when the directory does not exist or does not load (the checkpoint loader names
 *   the file and tensor), or the spec is neither a directory nor a config name
 */
export function loadModel(spec: string, options: LoadOptions): LoadedModel {
  if (isNamedConfig(spec)) {
    let config = namedConfig(spec);
    if (options.head === 'classification') config = withLabels(config, options.numLabels ?? 2, options.labelNames);
    return { model: Bert.random(config, options.head, options.seed), initialised: ['*'], source: null };
  }
  if (!existsSync(spec)) {
    throw new Error(`model ${spec}: no such directory, and not a config name (${Object.keys(NAMED_SIZES).join(', ')})`);
  }
  const ckpt = loadCheckpoint(spec, { head: undefined });
  let config: BertConfig = ckpt.config;
  const taskHead = options.head === 'classification' ? pickTaskHead(spec, options) : null;
  if (taskHead) {
    config = withLabels(config, taskHead.numLabels, taskHead.labelNames);
    ckpt.tensors.set('classifier.weight', taskHead.weight);
    ckpt.tensors.set('classifier.bias', taskHead.bias);
  } else if (options.head === 'classification') {
    const numLabels = options.numLabels ?? config.numLabels;
    // Keep the checkpoint's label names (id2label) unless the head changes or new names are given.
    if (numLabels !== config.numLabels || options.labelNames !== undefined) config = withLabels(config, numLabels, options.labelNames);
  }
  const fresh = initialValues(config, options.head, options.seed);
  const values = new Map<string, HostTensor>();
  const initialised: string[] = [];
  for (const [name, init] of fresh) {
    const t = options.freshClassifier && name.startsWith('classifier.') ? undefined : ckpt.tensors.get(name);
    if (t && t.shape.length === init.shape.length && t.shape.every((d, i) => d === init.shape[i])) values.set(name, t);
    else {
      values.set(name, init);
      initialised.push(name);
    }
  }
  return { model: new Bert(config, options.head, values), initialised, source: spec };
}

/**
 * The head of `options.task` when `dir` is a multitask model, else null.
 * @throws Error when the directory has task heads but no task is named, the task has no head
 *   there, or its label count differs from options.numLabels
 */
function pickTaskHead(dir: string, options: LoadOptions): TaskHead | null {
  const heads = readTaskHeads(dir);
  if (!heads) return null;
  const names = heads.map((h) => h.name).join(', ');
  if (options.task === undefined) throw new Error(`model ${dir} is a multitask model with heads for ${names}: name the task`);
  const head = heads.find((h) => h.name === options.task);
  if (!head) throw new Error(`model ${dir} has no head for task ${options.task} (it has ${names})`);
  if (options.numLabels !== undefined && options.numLabels !== head.numLabels) throw new Error(`model ${dir}: the head of ${head.name} has ${head.numLabels} outputs, ${options.numLabels} were asked for`);
  return head;
}

/** Writes the model as a transformers checkpoint directory (see saveCheckpoint for the options). */
export async function saveModel(model: Bert, dir: string, options: SaveCheckpointOptions = {}): Promise<string[]> {
  return saveCheckpoint(dir, model.config, await model.values(), options);
}
