/**
 * One classification or regression head per task on a shared encoder (Xia & Shin 2021): the
 * pooler is shared (part of the encoder, as BertModel has it), each task has its own classifier
 * [numLabels, P] and bias, initialised as transformers initialises a classifier. Saved beside the
 * pruned encoder (models/io/task_heads.ts), so each task's model loads back with loadModel(dir,
 * { head: 'classification', task }).
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import type { BertConfig } from '../models/config.ts';
import { type HostTensor, saveCheckpoint } from '../models/io/checkpoint.ts';
import { type TaskHead, writeTaskHeads } from '../models/io/task_heads.ts';

/** What a head needs to know of its task. */
export interface HeadTask {
  name: string;
  /** 1 for regression. */
  numLabels: number;
  labelNames?: string[];
}

export class TaskHeads {
  readonly weights: Tensor[];
  readonly biases: Tensor[];

  /**
   * @param poolerSize the pooler's output width P
   * @param initializerRange the classifier weights' standard deviation (config.initializerRange)
   */
  constructor(
    readonly tasks: readonly HeadTask[],
    poolerSize: number,
    initializerRange: number,
    seed: number,
  ) {
    const rng = new E.HostRandom(seed);
    this.weights = tasks.map((t, i) => E.parameter(Float32Array.from({ length: t.numLabels * poolerSize }, () => initializerRange * rng.normal()), [t.numLabels, poolerSize], `task_heads.${i}.weight`));
    this.biases = tasks.map((t, i) => E.parameter(new Float32Array(t.numLabels), [t.numLabels], `task_heads.${i}.bias`));
  }

  /** Heads for a model's pooler (its config's poolerSize and initializer range). */
  static forModel(config: BertConfig, tasks: readonly HeadTask[], seed: number): TaskHeads {
    return new TaskHeads(tasks, config.poolerSize ?? config.hiddenSize, config.initializerRange, seed);
  }

  /** Logits of task t. Shapes: pooled [B, P] → [B, numLabels_t]. */
  logits(t: number, pooled: Tensor): Tensor {
    return E.matmul(pooled, this.weights[t]!, { transB: true, bias: this.biases[t]! });
  }

  /** Every head parameter with its name. */
  named(): Array<[string, Tensor]> {
    return this.tasks.flatMap((_, i) => [[this.weights[i]!.label, this.weights[i]!] as [string, Tensor], [this.biases[i]!.label, this.biases[i]!] as [string, Tensor]]);
  }

  /** Host copies, for saving. */
  async heads(): Promise<TaskHead[]> {
    const out: TaskHead[] = [];
    for (const [i, t] of this.tasks.entries()) {
      const head: TaskHead = {
        name: t.name,
        numLabels: t.numLabels,
        weight: { shape: [...this.weights[i]!.shape], data: (await this.weights[i]!.read()) as Float32Array },
        bias: { shape: [...this.biases[i]!.shape], data: (await this.biases[i]!.read()) as Float32Array },
      };
      if (t.labelNames) head.labelNames = [...t.labelNames];
      out.push(head);
    }
    return out;
  }

  dispose(): void {
    for (const t of [...this.weights, ...this.biases]) t.dispose();
  }
}

/**
 * Writes a multitask model: the (pruned) encoder as a BertModel checkpoint plus the task heads.
 * @param values the encoder's tensors (head 'base': embeddings, encoder, pooler)
 * @returns the files written
 */
export async function saveMultitaskModel(dir: string, config: BertConfig, values: ReadonlyMap<string, HostTensor>, heads: TaskHeads, tokenizer?: BertTokenizer): Promise<string[]> {
  const written = saveCheckpoint(dir, config, values, tokenizer ? { tokenizer } : {});
  writeTaskHeads(dir, await heads.heads());
  return [...written, 'task_heads.safetensors', 'task_heads.json'];
}
