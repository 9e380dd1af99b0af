/** The loss curve of a pretraining run (metrics.jsonl) as SVG: training loss per logged window and held-out MLM loss. */
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { PretrainMetric } from './report.ts';

/** The vega-lite spec: loss against step, one line for training (window means) and one for held-out. */
export function lossCurveSpec(metrics: readonly PretrainMetric[], title: string): Record<string, unknown> {
  const values = metrics.flatMap((m) => [
    ...(typeof m.loss === 'number' ? [{ step: m.step, loss: m.loss, series: 'training (window mean)' }] : []),
    ...(typeof m.valid_loss === 'number' ? [{ step: m.step, loss: m.valid_loss, series: 'held-out' }] : []),
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: 'masked-LM cross-entropy over the masked positions (nats)' },
    width: 420,
    height: 260,
    data: { values },
    mark: { type: 'line', point: { size: 12 } },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'optimizer step' },
      y: { field: 'loss', type: 'quantitative', title: 'MLM loss', scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
}

/** Renders {@link lossCurveSpec} to SVG (vega-lite → vega, headless). */
export async function lossCurveSvg(metrics: readonly PretrainMetric[], title: string): Promise<string> {
  // vega-lite's TopLevelSpec type is stricter than our plain object; compile() checks the spec.
  const spec = compile(lossCurveSpec(metrics, title) as unknown as Parameters<typeof compile>[0]).spec;
  return new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG();
}
