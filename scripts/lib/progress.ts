// A one-line progress bar with rate and ETA for the CLIs; plain lines when stdout is not a TTY
// (CI logs), at most one every `everyMs`.
export class ProgressBar {
  private readonly started = Date.now();
  private lastPrint = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly startAt = 0,
    private readonly everyMs = process.stdout.isTTY ? 200 : 15_000,
  ) {}

  update(done: number, extra = '', force = false): void {
    const now = Date.now();
    if (!force && now - this.lastPrint < this.everyMs && done < this.total) return;
    this.lastPrint = now;
    const frac = this.total > 0 ? done / this.total : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const rate = (done - this.startAt) / Math.max((now - this.started) / 1000, 1e-3);
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${(100 * frac).toFixed(1)}% ${rate.toFixed(2)}/s ETA ${formatDuration(eta)} ${extra}`;
    if (process.stdout.isTTY) process.stdout.write(`\r${line}\x1b[K${done >= this.total ? '\n' : ''}`);
    else console.log(line);
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}
