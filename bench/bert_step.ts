/**
 * Wall time of one tiny-BERT training step (forward, backward, AdamW), synchronised by reading
 * the loss. Usage: node --import ./scripts/ts-register.mjs bench/bert_step.ts [config] [B] [S] [steps]
 * Prints the median wall and process-CPU time over `steps` timed steps after 3 warm-up steps,
 * without masks and with CoFi masks (headZ and intermediateZ with a third of their entries exactly 0).
 */
import * as E from '../engine/index.ts';
import { Bert } from '../models/bert.ts';
import { namedConfig } from '../models/config.ts';
import type { StructureMasks } from '../models/masks.ts';

const [name = 'tiny', bArg = '4', sArg = '32', stepsArg = '10'] = process.argv.slice(2);
const B = Number(bArg);
const S = Number(sArg);
const steps = Number(stepsArg);

await E.initEngine({ seed: 0 });
const config = namedConfig(name);
const model = Bert.random(config, 'classification', 1);
const rng = new E.HostRandom(2);
const inputIds = E.keep(E.tensor(Int32Array.from({ length: B * S }, () => rng.int(config.vocabSize)), [B, S], 'i32'));
const attentionMask = E.keep(E.tensor(Float32Array.from({ length: B * S }, (_, i) => (i % S < S - (i / S | 0) ? 1 : 0)), [B, S]));
const labels = E.keep(E.tensor(Int32Array.from({ length: B }, (_, i) => i % 2), [B], 'i32'));
const opt = new E.AdamW([{ params: model.parameters(), lr: 1e-4, weightDecay: 0.01 }], { maxGradNorm: 1 });

function masksFor(): StructureMasks {
  const z = (n: number) => E.keep(E.tensor(Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? 1 : 0.5)), [n]));
  return {
    headZ: config.layers.map((l) => z(l.numHeads)),
    intermediateZ: config.layers.map((l) => z(l.intermediateSize)),
  };
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Median wall time and median process CPU time (ms) of a training step. */
async function time(masks: StructureMasks | undefined): Promise<string> {
  const times: number[] = [];
  const cpu: number[] = [];
  for (let s = 0; s < steps + 3; s++) {
    const t0 = performance.now();
    const c0 = cpuMs();
    const loss = E.tidy(() => {
      const { logits } = model.classify({ inputIds, attentionMask }, { training: true, masks });
      const l = E.crossEntropy(logits, labels);
      E.backward(l);
      opt.step();
      opt.zeroGrad();
      return l;
    });
    await loss.item();
    loss.dispose();
    if (s >= 3) {
      times.push(performance.now() - t0);
      cpu.push(cpuMs() - c0);
    }
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return `${median(times).toFixed(1)} ms (cpu ${median(cpu).toFixed(1)} ms)`;
}

console.log(`${name} B=${B} S=${S}: step ${await time(undefined)} without masks, ${await time(masksFor())} with headZ + intermediateZ [median of ${steps}]`);
