/**
 * The default download progress display: a cli-progress bar per file on stderr when stderr is a
 * terminal; otherwise one line when a file starts and one when it is done (logs stay readable).
 */
import { SingleBar } from 'cli-progress';
import type { DownloadProgress } from './settings.ts';

/** Bytes in B, KB, MB or GB (powers of 1000, as the hub shows sizes). */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

/** A progress callback that draws on `stream` (default process.stderr). */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): (p: DownloadProgress) => void {
  let bar: SingleBar | null = null;
  let current = '';
  return (p) => {
    if (!stream.isTTY) {
      if (p.received === 0 && !p.done) stream.write(`downloading ${p.file} (${formatBytes(p.total)})\n`);
      else if (p.done) stream.write(`downloaded ${p.file}\n`);
      return;
    }
    if (p.file !== current) {
      bar?.stop();
      current = p.file;
      bar = new SingleBar({ format: `${p.file} [{bar}] {percentage}% | {got} / {size}`, stream, hideCursor: true, clearOnComplete: false });
      bar.start(p.total, 0, { got: formatBytes(0), size: formatBytes(p.total) });
    }
    bar!.update(p.received, { got: formatBytes(p.received) });
    if (p.done) {
      bar!.stop();
      bar = null;
      current = '';
    }
  };
}
