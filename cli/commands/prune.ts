/** `webprune prune`: CoFi structured pruning with an optional transfer task (see pruning/prune_job.ts). */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { getTask } from '../../data/tasks.ts';
import { MASK_TYPES, type MaskType } from '../../pruning/l0_module.ts';
import { type PruneOptions, runPrune, validatePruneOptions } from '../../pruning/prune_job.ts';
import type { TransferMethod } from '../../pruning/transfer.ts';
import { loadEncoded, openEngine, parseFloatArg, parseIntArg, resolveDataDir, resolveTokenizer } from '../common.ts';
import { loadModel } from '../../models/load.ts';
import * as E from '../../engine/index.ts'; // --profile wiring
import { writeProfile } from '../../bench/profile.ts'; // --profile wiring

/** The project's default encoder until its own pretrained model lands (see README). */
export const DEFAULT_MODEL = 'tiny';

interface PruneArgs {
  profile?: string; // --profile wiring
  model: string;
  task: string;
  transfer?: string;
  method?: string;
  sparsity: number;
  dataDir?: string;
  out: string;
  vocab?: string;
  pruningSteps: number;
  finetuneSteps?: number;
  finetuneEpochs: number;
  batchSize: number;
  maxSeqLength: number;
  seed: number;
  lr: number;
  regLr: number;
  finetuneLr: number;
  lagrangianWarmup?: number;
  taskWeights: string;
  deltaL2: number;
  maskTypes: string;
  trainEmbeddings?: boolean;
  teacher?: string;
  distillLayerAlpha: number;
  distillPredictionAlpha: number;
  distillTemperature: number;
  weightDecay: number;
  logEvery: number;
  checkpointEvery: number;
  resume?: boolean;
  maxTrain?: number;
  maxEval?: number;
  skipMalformed?: boolean;
  stopAfter?: number;
}

export function registerPrune(program: Command): void {
  program
    .command('prune')
    .description('prune an encoder for a task (CoFi), optionally with a transfer task; compacts and fine-tunes it')
    .option('--model <dir|config>', 'pretrained encoder: checkpoint directory or config name', DEFAULT_MODEL)
    .requiredOption('--task <name>', 'target task: mrpc, stsb, sciie, citation_intent, or [regression:](tsv|jsonl):DIR')
    .option('--transfer <name>', 'auxiliary transfer task (Dery et al.)')
    .option('--method <m>', 'none | single-mask | multi-mask | delta (default: delta with --transfer, else none)')
    .requiredOption('--sparsity <s>', 'target sparsity: fraction of prunable (attention + FFN) parameters removed, in (0, 1)', parseFloatArg('--sparsity'))
    .requiredOption('--out <dir>', 'output directory')
    .option('--data-dir <dir>', 'data root (default $WEBPRUNE_DATA or ../shared/data)')
    .option('--vocab <path>', 'vocab.txt or tokenizer directory (default: the model\'s, else bert-base-uncased)')
    .option('--pruning-steps <n>', 'pruning steps (paper: 10K)', parseIntArg('--pruning-steps'), 10000)
    .option('--finetune-steps <n>', 'fine-tuning steps after compaction (overrides --finetune-epochs)', parseIntArg('--finetune-steps'))
    .option('--finetune-epochs <n>', 'fine-tuning epochs after compaction (paper: 20)', parseFloatArg('--finetune-epochs'), 20)
    .option('--batch-size <n>', 'batch size', parseIntArg('--batch-size'), 32)
    .option('--max-seq-length <n>', 'maximum tokens per example', parseIntArg('--max-seq-length'), 128)
    .option('--seed <n>', 'random seed', parseIntArg('--seed'), 57)
    .option('--lr <lr>', 'learning rate of the weights while pruning', parseFloatArg('--lr'), 2e-5)
    .option('--reg-lr <lr>', 'learning rate of log_alpha (λ1, λ2 use its negative)', parseFloatArg('--reg-lr'), 0.01)
    .option('--finetune-lr <lr>', 'learning rate of the fine-tuning after compaction', parseFloatArg('--finetune-lr'), 2e-5)
    .option('--lagrangian-warmup <n>', 'steps over which the target sparsity ramps up (default 10% of the pruning steps)', parseIntArg('--lagrangian-warmup'))
    .option('--task-weights <a,b>', 'sampling weights of target and transfer batches (paper grid: 1,1 1,2 2,1)', '1,1')
    .option('--delta-l2 <w>', 'l2 penalty weight on δ (method delta)', parseFloatArg('--delta-l2'), 1e-2)
    .option('--mask-types <list>', `mask types to learn: ${MASK_TYPES.join(',')}`, MASK_TYPES.join(','))
    .option('--train-embeddings', 'train the embeddings (frozen by default, as Dery et al.)')
    .option('--teacher <dir>', 'a model fine-tuned on the task: distil from it (layer + prediction distillation, CoFi)')
    .option('--distill-layer-alpha <a>', 'weight of the layer distillation loss', parseFloatArg('--distill-layer-alpha'), 0.9)
    .option('--distill-prediction-alpha <a>', 'weight of the prediction (KL) distillation loss', parseFloatArg('--distill-prediction-alpha'), 0.1)
    .option('--distill-temperature <t>', 'temperature of the prediction distillation', parseFloatArg('--distill-temperature'), 2)
    .option('--weight-decay <wd>', 'AdamW weight decay of the weights', parseFloatArg('--weight-decay'), 0)
    .option('--log-every <n>', 'metrics.jsonl line every n steps', parseIntArg('--log-every'), 10)
    .option('--checkpoint-every <n>', 'checkpoint for --resume every n steps (0: never)', parseIntArg('--checkpoint-every'), 500)
    .option('--resume', 'continue a run from OUT/checkpoint/')
    .option('--max-train <n>', 'use only the first n training examples of each task', parseIntArg('--max-train'))
    .option('--max-eval <n>', 'use only the first n dev examples', parseIntArg('--max-eval'))
    .option('--skip-malformed', 'skip malformed data rows (and report how many) instead of stopping')
    .option('--stop-after <n>', 'stop after n steps in this process, with a checkpoint to --resume from (chains time-limited sessions)', parseIntArg('--stop-after'))
    .option('--profile <file>', 'profile the run: per-kernel GPU time, dispatches, host time and readbacks per step (engine profiler), printed at the end and written to FILE as JSON') // --profile wiring
    .action(async (a: PruneArgs) => {
      const method = (a.method ?? (a.transfer ? 'delta' : 'none')) as TransferMethod;
      const weights = a.taskWeights.split(',').map(Number) as [number, number];
      const maskTypes = a.maskTypes.split(',').map((t) => t.trim()) as MaskType[];
      const options: PruneOptions = {
        model: a.model,
        task: a.task,
        transfer: a.transfer,
        method,
        sparsity: a.sparsity,
        out: a.out,
        pruningSteps: a.pruningSteps,
        finetuneSteps: a.finetuneSteps,
        finetuneEpochs: a.finetuneEpochs,
        batchSize: a.batchSize,
        maxSeqLength: a.maxSeqLength,
        seed: a.seed,
        lr: a.lr,
        regLr: a.regLr,
        finetuneLr: a.finetuneLr,
        lagrangianWarmup: a.lagrangianWarmup,
        taskWeights: weights,
        deltaL2: a.deltaL2,
        maskTypes,
        trainEmbeddings: !!a.trainEmbeddings,
        teacher: a.teacher,
        distill: { layerAlpha: a.distillLayerAlpha, predictionAlpha: a.distillPredictionAlpha, temperature: a.distillTemperature },
        weightDecay: a.weightDecay,
        logEvery: Math.max(1, a.logEvery),
        checkpointEvery: a.checkpointEvery,
        evalBatchSize: 2 * a.batchSize,
        resume: !!a.resume,
        maxTrain: a.maxTrain,
        maxEval: a.maxEval,
        stopAfter: a.stopAfter,
      };
      // Bad input stops here, before the GPU or the data are touched.
      validatePruneOptions(options);
      await openEngine(a.seed);
      const profiler = a.profile ? E.startProfiling(E.getEngine()) : null; // --profile wiring
      const dataDir = resolveDataDir(a.dataDir);
      // A model that does not load fails now, not after data preparation.
      loadModel(a.model, { head: 'classification', seed: a.seed }).model.dispose();
      const tokenizer = resolveTokenizer(a.model, a.vocab, dataDir);
      const targetTask = getTask(a.task);
      const train = loadEncoded(targetTask, dataDir, 'train', tokenizer, a.maxSeqLength, a.maxTrain, a.skipMalformed);
      const dev = loadEncoded(targetTask, dataDir, 'dev', tokenizer, a.maxSeqLength, a.maxEval, a.skipMalformed);
      let transfer = null;
      if (a.transfer) {
        const task = getTask(a.transfer);
        transfer = { task, train: loadEncoded(task, dataDir, 'train', tokenizer, a.maxSeqLength, a.maxTrain, a.skipMalformed).encoded };
      }
      fs.mkdirSync(a.out, { recursive: true });
      const result = await runPrune(options, { tokenizer, target: { task: targetTask, train: train.encoded, dev: dev.encoded }, transfer });
      if (profiler) writeProfile(await profiler.stop(), a.profile!, 'profile of the pruning and fine-tuning steps'); // --profile wiring
      if ('stopped' in result) {
        console.error(`stopped in the ${result.phase} phase after ${a.stopAfter} steps; continue with the same command and --resume`);
        return;
      }
      console.log(JSON.stringify(result, null, 2));
      console.error(`wrote ${a.out}/pruned/, summary.json, metrics.jsonl, structure.svg`);
    });
}
