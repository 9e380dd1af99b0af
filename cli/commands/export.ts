/** `webprune export`: a pruned (or dense) classifier as ONNX and/or a transformers directory (export/). */
import type { Command } from 'commander';
import { EXPORT_FORMATS, type ExportFormat, exportModel } from '../../export/export_model.ts';
import type { OnnxDType } from '../../export/onnx.ts';
import { resolveModelSource } from '../../hub/model.ts';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a sequence classifier as ONNX (onnx/model.onnx) and/or a transformers directory, with its tokenizer and a model card')
    .requiredOption('--model <dir|hub-id>', 'a sequence classifier: checkpoint directory (e.g. runs/quickstart/pruned) or hub id (org/name[@revision])')
    .requiredOption('--format <list>', `comma-separated: ${EXPORT_FORMATS.join(', ')}`)
    .requiredOption('--out <dir>', 'output directory')
    .option('--dtype <dtype>', 'f32, or f16 (ONNX graph in float16; transformers weights stored as float16)', 'f32')
    .action(async (a: { model: string; format: string; out: string; dtype: string }) => {
      const formats = a.format.split(',').map((s) => s.trim()) as ExportFormat[];
      const model = await resolveModelSource(a.model); // hub ids → the hub cache (hub/model.ts)
      const r = exportModel({ model, formats, dtype: a.dtype as OnnxDType, out: a.out, source: a.model });
      console.log(`wrote ${r.files.join(', ')} to ${r.out}`);
      if (formats.includes('transformers')) {
        console.log(`load with: AutoModelForSequenceClassification.from_pretrained(${JSON.stringify(r.out)}${r.remoteCode ? ', trust_remote_code=True' : ''})`);
      }
    });
}
