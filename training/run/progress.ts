/** Progress of a training loop: a terminal bar, or a line every few updates on other outputs. */
import cliProgress from 'cli-progress';

/**
 * A progress bar with loss, step rate and ETA on a terminal; on other outputs (CI, files) a line
 * every `everyLines` updates instead, so logs stay readable.
 */
export class Progress {
  private readonly bar: cliProgress.SingleBar | null;
  private readonly started = Date.now();
  private lastLine = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly start = 0,
    private readonly everyLines = 25,
  ) {
    if (process.stderr.isTTY && !process.env.CI) {
      this.bar = new cliProgress.SingleBar(
        { format: `${label} [{bar}] {value}/{total} | loss {loss} | {rate} step/s | ETA {eta_formatted}`, hideCursor: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, start, { loss: '-', rate: '-' });
    } else this.bar = null;
  }

  update(step: number, values: { loss?: number }): void {
    const seconds = (Date.now() - this.started) / 1000;
    const rate = seconds > 0 ? ((step - this.start) / seconds).toFixed(2) : '-';
    const loss = values.loss === undefined ? '-' : values.loss.toFixed(4);
    if (this.bar) this.bar.update(step, { loss, rate });
    else if (step - this.lastLine >= this.everyLines || step === this.total) {
      this.lastLine = step;
      const perStep = seconds / Math.max(1, step - this.start);
      const eta = step > this.start ? ` ETA ${Math.round(perStep * (this.total - step))} s` : '';
      process.stderr.write(`${this.label} ${step}/${this.total} loss ${loss} (${rate} step/s${eta})\n`);
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}
