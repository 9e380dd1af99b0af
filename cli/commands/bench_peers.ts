/** `webprune bench peers`: webprune beside other WebGPU engines on the same adapter (bench/peers.ts). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { OptionError, defineOptions, opt, resolveOptions } from '../../jobs/options.ts';
import { PEERS_SIZES, PEER_NAMES, type PeerName, peersTable, runPeersBench } from '../../bench/peers.ts';
import { addOptions } from '../options.ts';

const PEERS_OPTIONS = defineOptions({
  size: opt.choice('--size <size>', 'problem set: BERT-mini (tiny) or -small shapes on lavapipe, BERT-base on a GPU', PEERS_SIZES, 'tiny'),
  peers: opt.list('--peers <names>', `peers to run (${PEER_NAMES.join(', ')})`, [...PEER_NAMES], {
    valid: (v) => (v.every((n) => (PEER_NAMES as readonly string[]).includes(n)) ? null : `must name peers among ${PEER_NAMES.join(', ')}`),
  }),
  repeats: opt.count('--repeats <n>', 'timed rounds', 5),
  warmup: opt.natural('--warmup <n>', 'untimed rounds first', 1),
  seed: opt.natural('--seed <n>', 'seed of the inputs', 0),
  json: opt.string.optional('--json <file>', 'write the report as JSON to FILE'),
});

export function registerBenchPeers(bench: Command): void {
  const command = bench.command('peers').description('TensorFlow.js (WebGPU) and jax-js beside webprune on the same adapter (GEMMs, attention, a BERT layer forward + backward), ONNX Runtime\'s WebGPU provider on BERT inference; outputs checked equal first');
  addOptions(command, PEERS_OPTIONS).action(async (args: Record<string, unknown>) => {
    const o = resolveOptions(PEERS_OPTIONS, args);
    if (o.json && !fs.existsSync(path.dirname(o.json))) throw new OptionError(`--json ${o.json}: its directory does not exist`);
    const report = await runPeersBench({ size: o.size, peers: o.peers as PeerName[], warmup: o.warmup, repeats: o.repeats, seed: o.seed, onProgress: (row) => process.stderr.write(`bench peers: ${row}\n`) });
    if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(peersTable(report));
  });
}
