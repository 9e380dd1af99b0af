/**
 * metrics.jsonl: one JSON object per line, written whole. A resumed run truncates the file to the
 * byte length recorded with its checkpoint, so rows written after the checkpoint by the killed
 * process are not repeated, and a half line (a write cut short by a full disk or a kill) is cut off.
 */
import * as fs from 'node:fs';

export class MetricsLog {
  private size: number;

  /**
   * @param keepBytes bytes of an existing file to keep (0: start empty)
   * @throws Error naming the file when it cannot be created or truncated
   */
  constructor(readonly file: string, keepBytes = 0) {
    try {
      if (keepBytes > 0 && fs.existsSync(file)) {
        const have = fs.statSync(file).size;
        if (have < keepBytes) throw new Error(`holds ${have} bytes, the checkpoint recorded ${keepBytes}: the file was changed outside the run`);
        fs.truncateSync(file, keepBytes);
      } else fs.writeFileSync(file, '');
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`);
    }
    this.size = keepBytes;
  }

  /** Bytes written so far (recorded with each checkpoint). */
  get bytes(): number {
    return this.size;
  }

  /**
   * Appends one record as one line.
   * @throws Error naming the file when the write fails (the partial line is removed)
   */
  write(record: Record<string, unknown>): void {
    const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
    try {
      fs.appendFileSync(this.file, line);
    } catch (err) {
      try {
        fs.truncateSync(this.file, this.size);
      } catch {
        // The file is kept as it is; the next resume truncates it to its checkpoint's length.
      }
      throw new Error(`${this.file}: writing a metrics row failed: ${(err as Error).message}`);
    }
    this.size += line.length;
  }
}
