/**
 * `webprune prune`: CoFi structured pruning of a pretrained encoder for a target task, optionally
 * with a transfer task (Dery, Hannun, Grangier), then physical compaction and fine-tuning.
 *
 * Phases, each resumable (--resume) from OUT/checkpoint/:
 *  1. prune: hard-concrete masks are sampled every step; loss = task loss (or distillation from a
 *     teacher) + the Lagrangian on the target's expected sparsity (+ the δ penalty). Three optimizer
 *     groups: weights (lr, linear decay, clipped), log_alpha (reg_lr), λ1 λ2 (−reg_lr: ascent).
 *  2. compact: CoFi's deterministic masks, fitted to the parameter budget, folded into a smaller
 *     model (pruning/structure.ts, pruning/compact.ts).
 *  3. fine-tune the compacted model on the target task only, keeping the best dev checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { type Task, getTask } from '../data/tasks.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import { Bert } from '../models/bert.ts';
import { parameterCount } from '../models/config.ts';
import { loadModel, saveModel } from '../models/load.ts';
import { BatchSampler, type EncodedSplit, type SamplerState, makeBatch, taskLoss } from '../training/data.ts';
import { evaluate } from '../training/evaluate.ts';
import { decays, finetune, totalSteps } from '../training/finetune.ts';
import { MetricsLog, Progress } from '../training/log.ts';
import { hasRunState, loadRunState, saveRunState } from '../training/run_state.ts';
import { compact } from './compact.ts';
import { type DistillOptions, LayerTransformation, distillationLoss } from './distill.ts';
import { Lagrangian, MASK_TYPES, type MaskType } from './l0_module.ts';
import { type PruneSummary, structureSvg } from './report.ts';
import { fitToBudget } from './structure.ts';
import { METHODS, type TransferMethod, setupMasks } from './transfer.ts';

export interface PruneOptions {
  model: string;
  task: string;
  transfer?: string;
  method: TransferMethod;
  sparsity: number;
  out: string;
  pruningSteps: number;
  finetuneSteps?: number;
  finetuneEpochs?: number;
  batchSize: number;
  maxSeqLength: number;
  seed: number;
  /** Weights during pruning. */
  lr: number;
  /** log_alpha (and δ); λ uses −regLr. */
  regLr: number;
  finetuneLr: number;
  /** Steps over which the target sparsity ramps from 0 (default 10% of pruningSteps, CoFi's 2 of 20 epochs). */
  lagrangianWarmup?: number;
  /** Sampling weights of target and transfer batches. */
  taskWeights: [number, number];
  deltaL2: number;
  maskTypes: MaskType[];
  trainEmbeddings: boolean;
  teacher?: string;
  distill: DistillOptions;
  weightDecay: number;
  logEvery: number;
  checkpointEvery: number;
  evalBatchSize: number;
  resume: boolean;
  /** Use only the first n examples of each training set / of dev (quick runs). */
  maxTrain?: number;
  maxEval?: number;
  /**
   * Stop after this many steps (pruning and fine-tuning together) in this process, with a
   * checkpoint to continue from with resume: time-limited sessions chain into one run.
   */
  stopAfter?: number;
}

/** What runPrune returns when it stopped early (stopAfter) rather than finishing. */
export interface PruneStopped {
  stopped: true;
  phase: 'prune' | 'finetune';
  step: number;
}

/** What the command needs from its caller (data already tokenised). */
export interface PruneData {
  tokenizer: BertTokenizer;
  target: { task: Task; train: EncodedSplit; dev: EncodedSplit };
  transfer: { task: Task; train: EncodedSplit } | null;
}

/**
 * Checks options before any work.
 * @throws Error with a message naming the bad option
 */
export function validatePruneOptions(o: Pick<PruneOptions, 'task' | 'transfer' | 'method' | 'sparsity' | 'taskWeights' | 'pruningSteps' | 'maskTypes'>): void {
  getTask(o.task);
  if (!(o.sparsity > 0 && o.sparsity < 1)) throw new Error(`--sparsity must be in (0, 1), the fraction of prunable parameters removed (got ${o.sparsity})`);
  if (!METHODS.includes(o.method)) throw new Error(`--method must be one of ${METHODS.join(', ')} (got ${o.method})`);
  if (o.transfer !== undefined) {
    getTask(o.transfer);
    if (o.transfer === o.task) throw new Error(`--transfer ${o.transfer} is the target task itself; pick another task`);
    if (o.method === 'none') throw new Error('--method none uses no transfer task: drop --transfer, or choose single-mask, multi-mask or delta');
  } else if (o.method !== 'none') throw new Error(`--method ${o.method} needs --transfer TASK`);
  if (o.taskWeights.length !== 2 || o.taskWeights.some((w) => !(w >= 0)) || o.taskWeights[0] + o.taskWeights[1] <= 0) {
    throw new Error(`--task-weights must be two non-negative numbers, not both 0 (got ${o.taskWeights.join(',')})`);
  }
  if (o.maskTypes.length === 0 || o.maskTypes.some((t) => !MASK_TYPES.includes(t))) throw new Error(`--mask-types must be a comma list of ${MASK_TYPES.join(', ')}`);
  if (!Number.isInteger(o.pruningSteps) || o.pruningSteps < 1) throw new Error(`--pruning-steps must be a positive integer (got ${o.pruningSteps})`);
}

interface PruneState {
  phase: 'prune';
  step: number;
  samplers: { target: SamplerState; transfer: SamplerState | null };
  taskRng: number;
  rng: { seed: string; counter: string };
  weightsStep: number;
  regStep: number;
  fingerprint: string;
}

interface CompactedState {
  phase: 'finetune';
  structure: ReturnType<typeof fitToBudget>['structure'];
  deterministicSparsity: number;
  expectedSparsity: number;
  budgetFit: { removed: number; restored: number };
  beforeFinetune: Record<string, number>;
  pruningSeconds: number;
  fingerprint: string;
}

function fingerprint(o: PruneOptions): string {
  return JSON.stringify([o.model, o.task, o.transfer, o.method, o.sparsity, o.pruningSteps, o.batchSize, o.maxSeqLength, o.seed, o.maskTypes, o.teacher ?? null]);
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);

/**
 * Runs the whole job and writes OUT/pruned/, OUT/summary.json, OUT/metrics.jsonl, OUT/structure.svg.
 * @throws Error when the loss becomes NaN (naming the step; the last checkpoint is kept), or when
 *   a resumed run's options differ from the checkpoint's
 */
export async function runPrune(o: PruneOptions, data: PruneData): Promise<PruneSummary | PruneStopped> {
  const started = Date.now();
  const budget = { remaining: o.stopAfter ?? Infinity };
  const ckptDir = path.join(o.out, 'checkpoint');
  const pruneStateDir = path.join(ckptDir, 'prune');
  const compactedDir = path.join(ckptDir, 'compacted');
  const phaseFile = path.join(ckptDir, 'phase.json');
  fs.mkdirSync(ckptDir, { recursive: true });
  const resuming = o.resume && (fs.existsSync(phaseFile) || hasRunState(pruneStateDir));
  const metrics = new MetricsLog(path.join(o.out, 'metrics.jsonl'), resuming);
  const engine = E.getEngine();
  const target = data.target.task;

  let phase: CompactedState;
  // Seconds spent in earlier processes of a resumed run.
  let earlierSeconds = 0;
  if (resuming && fs.existsSync(phaseFile)) {
    phase = JSON.parse(fs.readFileSync(phaseFile, 'utf8')) as CompactedState;
    if (phase.fingerprint !== fingerprint(o)) throw new Error(`${phaseFile}: the checkpoint was made with other options; rerun them, or start without --resume`);
    earlierSeconds = phase.pruningSeconds;
    log(`resuming: pruning done, continuing fine-tuning from ${compactedDir}`);
  } else {
    const pruned = await prunePhase(o, data, metrics, pruneStateDir, resuming, budget);
    if ('stopped' in pruned) return pruned;
    phase = pruned;
    fs.writeFileSync(phaseFile, `${JSON.stringify(phase, null, 1)}\n`);
    fs.rmSync(pruneStateDir, { recursive: true, force: true });
  }

  // Phase 3: fine-tune the compacted model on the target task.
  const { model } = loadModel(compactedDir, { head: 'classification', seed: o.seed });
  if (!o.trainEmbeddings) model.setTrainable((n) => n.startsWith('bert.embeddings.') && !n.includes('LayerNorm'), false);
  const prunedDir = path.join(o.out, 'pruned');
  const ftSteps = o.finetuneSteps ?? totalSteps({ epochs: o.finetuneEpochs ?? 20, batchSize: o.batchSize }, data.target.train.n);
  let dev = phase.beforeFinetune;
  const ftStateDir = path.join(ckptDir, 'finetune');
  // A fresh fine-tuning phase starts its random stream from the seed, whichever process runs it.
  if (!(o.resume && hasRunState(ftStateDir))) engine.setSeed(o.seed + 1);
  if (ftSteps > 0) {
    const result = await finetune(
      model,
      target,
      data.target.train,
      data.target.dev,
      { steps: ftSteps, lr: o.finetuneLr, batchSize: o.batchSize, warmupRatio: 0.1, weightDecay: o.weightDecay, evalEvery: Math.max(1, Math.round(ftSteps / 10)), seed: o.seed + 1, evalBatchSize: o.evalBatchSize },
      { bestDir: prunedDir, tokenizer: data.tokenizer, log: metrics, stateDir: ftStateDir, checkpointEvery: o.checkpointEvery, resume: o.resume, progressLabel: 'finetune', tag: { phase: 'finetune' }, stepBudget: budget },
    );
    if (result.stopped) {
      model.dispose();
      return { stopped: true, phase: 'finetune', step: -1 };
    }
    dev = result.best;
  } else await saveModel(model, prunedDir, { tokenizer: data.tokenizer });

  const original = denseConfig(o);
  const dense = parameterCount(original);
  const remaining = parameterCount(model.config).total;
  const summary: PruneSummary = {
    task: target.name,
    transfer: data.transfer?.task.name ?? null,
    method: o.method,
    seed: o.seed,
    device: `${engine.gpu.description.vendor} ${engine.gpu.description.device} (${engine.gpu.description.description})`,
    sparsity: { target: o.sparsity, expected: phase.expectedSparsity, achieved: 1 - remaining / dense.total, deterministic: phase.deterministicSparsity },
    params: { prunable_dense: dense.total, prunable_remaining: remaining },
    structure: { hidden: phase.structure.hidden, heads: phase.structure.heads, intermediate: phase.structure.intermediate },
    metrics: { before_finetune: phase.beforeFinetune, dev },
    steps: { pruning: o.pruningSteps, finetune: ftSteps },
    seconds: earlierSeconds + (Date.now() - started) / 1000,
    budget_fit: phase.budgetFit,
  };
  fs.writeFileSync(path.join(o.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  fs.writeFileSync(
    path.join(o.out, 'structure.svg'),
    await structureSvg(phase.structure, { heads: original.numHeads, intermediate: original.intermediateSize }, `${target.name}${summary.transfer ? ` + ${summary.transfer} (${o.method})` : ''}: sparsity ${(summary.sparsity.achieved * 100).toFixed(1)}%`),
  );
  fs.rmSync(ckptDir, { recursive: true, force: true });
  model.dispose();
  return summary;
}

/**
 * The dense configuration the run started from, which the prune phase records beside its
 * checkpoints (a resumed fine-tuning phase has no dense model in memory).
 * @throws Error when the record is missing (a damaged checkpoint directory)
 */
function denseConfig(o: PruneOptions): Bert['config'] {
  const file = path.join(o.out, 'checkpoint', 'dense_config.json');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: the checkpoint directory is incomplete; start the run again without --resume`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Bert['config'];
}

/** Phase 1 and 2: pruning with masks, then the budget-fitted compacted model saved for phase 3. */
async function prunePhase(o: PruneOptions, data: PruneData, metrics: MetricsLog, stateDir: string, resuming: boolean, budget: { remaining: number }): Promise<CompactedState | PruneStopped> {
  const started = Date.now();
  const engine = E.getEngine();
  const target = data.target.task;
  const { model } = loadModel(o.model, { head: 'classification', numLabels: target.numLabels, labelNames: target.labelNames, seed: o.seed });
  fs.writeFileSync(path.join(o.out, 'checkpoint', 'dense_config.json'), JSON.stringify(model.config));
  if (!o.trainEmbeddings) model.setTrainable((n) => n.startsWith('bert.embeddings.') && !n.includes('LayerNorm'), false);
  const config = model.config;
  const masks = setupMasks(o.method, config, o.maskTypes, o.seed + 17, o.deltaL2);
  const lagrangian = new Lagrangian(o.sparsity, o.lagrangianWarmup ?? Math.round(0.1 * o.pruningSteps));

  // The transfer task's classifier (the encoder and pooler are shared).
  let auxHead: { weight: Tensor; bias: Tensor } | null = null;
  if (data.transfer) {
    const rng = new E.HostRandom(o.seed + 29);
    const P = config.poolerSize ?? config.hiddenSize;
    const C = data.transfer.task.numLabels;
    auxHead = {
      weight: E.parameter(Float32Array.from({ length: C * P }, () => config.initializerRange * rng.normal()), [C, P], 'transfer.classifier.weight'),
      bias: E.parameter(new Float32Array(C), [C], 'transfer.classifier.bias'),
    };
  }
  let teacher: Bert | null = null;
  let transformation: LayerTransformation | null = null;
  if (o.teacher) {
    teacher = loadModel(o.teacher, { head: 'classification', numLabels: target.numLabels, seed: o.seed }).model;
    teacher.setTrainable(() => true, false);
    transformation = new LayerTransformation(config.hiddenSize, teacher.config.hiddenSize);
  }

  const weights: Array<[string, Tensor]> = [
    ...[...model.params].filter(([, t]) => t.requiresGrad),
    ...(auxHead ? ([['transfer.classifier.weight', auxHead.weight], ['transfer.classifier.bias', auxHead.bias]] as Array<[string, Tensor]>) : []),
    ...(transformation ? transformation.parameters().map((t) => [t.label, t] as [string, Tensor]) : []),
  ];
  const weightsOpt = new E.AdamW(
    [
      { params: weights.filter(([n]) => decays(n)).map(([, t]) => t), lr: o.lr, weightDecay: o.weightDecay },
      { params: weights.filter(([n]) => !decays(n)).map(([, t]) => t), lr: o.lr, weightDecay: 0 },
    ],
    { maxGradNorm: 1 },
  );
  const regOpt = new E.AdamW([
    { params: masks.parameters, lr: o.regLr, name: 'log_alpha' },
    { params: lagrangian.parameters(), lr: -o.regLr, name: 'lambda' },
  ]);

  const samplers = {
    target: new BatchSampler(data.target.train.n, o.batchSize, o.seed),
    transfer: data.transfer ? new BatchSampler(data.transfer.train.n, o.batchSize, o.seed + 1) : null,
  };
  const taskRng = new E.HostRandom(o.seed + 7);
  const pTarget = data.transfer ? o.taskWeights[0] / (o.taskWeights[0] + o.taskWeights[1]) : 1;
  const stateTensors = () => new Map<string, Tensor>([...weights, ...masks.parameters.map((t) => [t.label, t] as [string, Tensor]), ...lagrangian.parameters().map((t) => [t.label, t] as [string, Tensor]), ...weightsOpt.stateTensors(), ...[...regOpt.stateTensors()].map(([k, v]) => [`reg.${k}`, v] as [string, Tensor])]);
  let step = 0;
  // The random stream (dropout, hard-concrete noise) starts from the seed, or from the checkpoint.
  engine.setSeed(o.seed);
  if (resuming && hasRunState(stateDir)) {
    const s = loadRunState<PruneState>(stateDir, stateTensors());
    if (s.fingerprint !== fingerprint(o)) throw new Error(`${stateDir}: the checkpoint was made with other options; rerun them, or start without --resume`);
    step = s.step;
    samplers.target.restore(s.samplers.target);
    if (samplers.transfer && s.samplers.transfer) samplers.transfer.restore(s.samplers.transfer);
    taskRng.position = s.taskRng;
    engine.restoreRngState(s.rng);
    weightsOpt.stepCount = s.weightsStep;
    regOpt.stepCount = s.regStep;
    log(`resuming pruning at step ${step}`);
  }
  const checkpoint = async () =>
    saveRunState(stateDir, stateTensors(), {
      phase: 'prune',
      step,
      samplers: { target: samplers.target.state(), transfer: samplers.transfer?.state() ?? null },
      taskRng: taskRng.position,
      rng: engine.rngState(),
      weightsStep: weightsOpt.stepCount,
      regStep: regOpt.stepCount,
      fingerprint: fingerprint(o),
    } satisfies PruneState);

  const progress = new Progress('prune', o.pruningSteps, step);
  const distill = teacher !== null;
  let stopped = false;
  try {
    for (; step < o.pruningSteps; ) {
      if (budget.remaining <= 0) {
        await checkpoint();
        stopped = true;
        break;
      }
      budget.remaining--;
      const onTarget = !data.transfer || taskRng.uniform() < pTarget;
      const split = onTarget ? data.target.train : data.transfer!.train;
      const task = onTarget ? target : data.transfer!.task;
      const l0 = onTarget ? masks.target : masks.transfer!;
      const indices = (onTarget ? samplers.target : samplers.transfer!).next();
      const scalars = E.tidy(() => {
        const batch = makeBatch(split, indices, task.isRegression);
        const sampled = l0.sample();
        const wantHidden = distill && onTarget;
        const enc = model.encode(batch.inputs, { training: true, masks: sampled, outputHiddenStates: wantHidden });
        const pooled = E.dropout(model.pool(enc.sequence), config.hiddenDropout, true);
        const head = onTarget ? { weight: model.p('classifier.weight'), bias: model.p('classifier.bias') } : auxHead!;
        const logits = E.matmul(pooled, head.weight, { transB: true, bias: head.bias });
        let objective: Tensor;
        if (wantHidden) {
          const t = E.noGrad(() => {
            const te = teacher!.encode(batch.inputs, { training: false, outputHiddenStates: true });
            return { logits: E.matmul(teacher!.pool(te.sequence), teacher!.p('classifier.weight'), { transB: true, bias: teacher!.p('classifier.bias') }), hidden: te.hiddenStates! };
          });
          const headLayerZ = sampled.headLayerZ ? E.concat(sampled.headLayerZ.map((z) => z!), 0) : null;
          objective = distillationLoss(o.distill, { logits, hidden: enc.hiddenStates! }, t, transformation!, headLayerZ).loss;
        } else objective = taskLoss(task, logits, batch.labels);
        const expected = masks.target.expectedSparsity();
        const lag = lagrangian.loss(expected, step);
        let loss = E.add(objective, lag);
        if (masks.penalty) loss = E.add(loss, masks.penalty());
        E.backward(loss);
        weightsOpt.step(E.linearWarmupDecay(step, 0, o.pruningSteps));
        regOpt.step();
        weightsOpt.zeroGrad();
        regOpt.zeroGrad();
        return E.concat([loss, objective, lag, expected, lagrangian.lambda1.view([]), lagrangian.lambda2.view([])].map((t) => E.reshape(t, [1])), 0);
      });
      masks.constrain();
      step++;
      E.profileStep(); // --profile wiring: a step of the engine profiler (no-op unless profiling)
      if (step % o.logEvery === 0 || step === o.pruningSteps) {
        const [loss, objective, lag, expected, l1, l2] = await scalars.read();
        if (!Number.isFinite(loss!)) {
          throw new Error(`loss is ${loss} at pruning step ${step}${hasRunState(stateDir) ? `; the last checkpoint in ${stateDir} is kept (resume with --resume after changing the learning rates)` : ''}`);
        }
        metrics.write({ phase: 'prune', step, task: task.name, loss, [distill && onTarget ? 'distill_loss' : 'task_loss']: objective, lagrangian: lag, expected_sparsity: expected, target_sparsity: lagrangian.target(step), lambda_1: l1, lambda_2: l2 });
        progress.update(step, { loss: loss! });
      }
      scalars.dispose();
      if (o.checkpointEvery > 0 && step % o.checkpointEvery === 0 && step < o.pruningSteps) await checkpoint();
    }
  } finally {
    progress.stop();
  }
  const release = () => {
    for (const t of [...weights.map(([, t]) => t), ...model.parameters()]) t.dispose();
    model.dispose();
    teacher?.dispose();
    transformation?.dispose();
    masks.dispose();
    lagrangian.dispose();
    weightsOpt.dispose();
    regOpt.dispose();
  };
  if (stopped) {
    release();
    return { stopped: true, phase: 'prune', step };
  }

  // Phase 2: final masks fitted to the budget, and compaction.
  const expectedSparsity = await E.tidy(() => masks.target.expectedSparsity()).item();
  const fit = fitToBudget(config, await masks.target.deterministic(), await masks.target.logAlphas(), o.sparsity, masks.target.denseSize);
  log(`expected sparsity ${(expectedSparsity * 100).toFixed(2)}% (target ${(o.sparsity * 100).toFixed(2)}%); deterministic masks ${(fit.deterministicSparsity * 100).toFixed(2)}%; fitted to the budget: ${fit.removed} units removed, ${fit.restored} restored`);
  const c = compact(config, 'classification', await model.values(), fit.masks);
  release();
  const compacted = new Bert(c.config, 'classification', c.values);
  const before = await evaluate(compacted, data.target.dev, target, { batchSize: o.evalBatchSize });
  metrics.write({ phase: 'compact', step, eval: before.metrics, structure: fit.structure });
  await saveModel(compacted, path.join(o.out, 'checkpoint', 'compacted'), { tokenizer: data.tokenizer });
  compacted.dispose();
  return {
    phase: 'finetune',
    structure: fit.structure,
    deterministicSparsity: fit.deterministicSparsity,
    expectedSparsity,
    budgetFit: { removed: fit.removed, restored: fit.restored },
    beforeFinetune: before.metrics,
    pruningSeconds: (Date.now() - started) / 1000,
    fingerprint: fingerprint(o),
  };
}
