/** `webprune info`: the WebGPU adapter, its features and limits. */
import type { Command } from 'commander';
import { initEngine } from '../../engine/index.ts';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the WebGPU adapter (vendor, architecture, description), its features and limits')
    .option('--json', 'print one JSON object')
    .action(async (options: { json?: boolean }) => {
      const engine = await initEngine();
      const d = engine.gpu.description;
      const enabled = [...engine.gpu.features].sort();
      if (options.json) {
        console.log(JSON.stringify({ adapter: d, deviceFeatures: enabled }, null, 2));
        return;
      }
      console.log(`adapter      ${d.vendor} / ${d.architecture} / ${d.device}`);
      console.log(`description  ${d.description}`);
      console.log(`features     ${d.features.join(', ')}`);
      console.log(`enabled      ${enabled.join(', ')}`);
      console.log('limits');
      for (const [k, v] of Object.entries(d.limits)) console.log(`  ${k.padEnd(44)} ${v}`);
    });
}
