/** `webprune info`: the WebGPU adapter, its features and limits. */
import type { Command } from 'commander';
import { DEVICE_CLASS_ENV, initEngine } from '../../engine/index.ts';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the WebGPU adapter (vendor, architecture, description), its device class (which kernel variants run), features and limits')
    .option('--json', 'print one JSON object')
    .action(async (options: { json?: boolean }) => {
      const engine = await initEngine();
      const d = engine.gpu.description;
      const enabled = [...engine.gpu.features].sort();
      const choice = engine.deviceClassChoice;
      const deviceClass = { class: choice.deviceClass, detected: choice.detected, reason: choice.reason, subgroupSize: engine.subgroupSize };
      if (options.json) {
        console.log(JSON.stringify({ adapter: d, deviceFeatures: enabled, deviceClass }, null, 2));
        return;
      }
      console.log(`adapter      ${d.vendor} / ${d.architecture} / ${d.device}`);
      console.log(`description  ${d.description}`);
      console.log(
        `class        ${choice.deviceClass} kernels (${choice.reason}${choice.deviceClass !== choice.detected ? `; the adapter is ${choice.detected}` : ''}); ` +
          `subgroup size ${engine.subgroupSize ?? 'not fixed'}; force with ${DEVICE_CLASS_ENV}=cpu|gpu`,
      );
      console.log(`features     ${d.features.join(', ')}`);
      console.log(`enabled      ${enabled.join(', ')}`);
      console.log('limits');
      for (const [k, v] of Object.entries(d.limits)) console.log(`  ${k.padEnd(44)} ${v}`);
    });
}
