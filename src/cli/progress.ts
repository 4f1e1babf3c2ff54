/**
 * Byte progress for people and programs, for every long command (upload, convert, import): a bar with bytes, rate
 * and ETA on stderr when it is a terminal (cli-progress), or JSON lines on stdout with --json (at most one a second,
 * plus one per phase change and a last one at 100 %). Nothing when stderr is not a terminal and --json is off.
 */

/** Where a long job is: its phase (`hash`, `upload`, `convert`...), the bytes done, of `total` when known. */
export interface Progress {
  phase: string;
  bytes: number;
  /** undefined for a stream of unknown length. */
  total: number | undefined;
}

export interface ProgressReporter {
  update(progress: Progress): void;
  stop(): void;
}

/** How each phase reads on the bar (padded to one width); an unlisted phase shows as its name. */
const PHASE_LABELS: Record<string, string> = { hash: 'hashing', upload: 'uploading', convert: 'converting' };
const LABEL_WIDTH = Math.max(...Object.values(PHASE_LABELS).map((label) => label.length));

export interface ProgressLine {
  event: 'progress';
  phase: string;
  bytes: number;
  total: number | null;
  /** Bytes per second since the phase began. */
  rate: number;
  /** Seconds left at that rate; null when the total is unknown. */
  eta: number | null;
}

const JSON_INTERVAL_MS = 1000;

export async function progressReporter(options: { json?: boolean; stream?: NodeJS.WriteStream }): Promise<ProgressReporter | undefined> {
  if (options.json) return jsonLines((line) => process.stdout.write(`${JSON.stringify(line)}\n`));
  const stream = options.stream ?? process.stderr;
  return stream.isTTY ? bar(stream) : undefined;
}

/** Tracks rate and ETA within a phase. */
function meter(): (progress: Progress) => ProgressLine {
  let phase: string | undefined;
  let started = 0;
  let startBytes = 0;
  return (progress) => {
    const now = performance.now();
    if (progress.phase !== phase) {
      phase = progress.phase;
      started = now;
      startBytes = progress.bytes;
    }
    const seconds = (now - started) / 1000;
    const rate = seconds > 0 ? (progress.bytes - startBytes) / seconds : 0;
    const left = progress.total === undefined ? undefined : progress.total - progress.bytes;
    const eta = left === undefined ? null : rate > 0 ? Math.round(left / rate) : left === 0 ? 0 : null;
    return { event: 'progress', phase: progress.phase, bytes: progress.bytes, total: progress.total ?? null, rate: Math.round(rate), eta };
  };
}

export function jsonLines(write: (line: ProgressLine) => void): ProgressReporter {
  const measure = meter();
  let lastPhase: string | undefined;
  let lastAt = -Infinity;
  return {
    update(progress) {
      const line = measure(progress);
      const now = performance.now();
      const last = progress.total !== undefined && progress.bytes === progress.total;
      if (progress.phase === lastPhase && !last && now - lastAt < JSON_INTERVAL_MS) return;
      lastPhase = progress.phase;
      lastAt = now;
      write(line);
    },
    stop() {},
  };
}

async function bar(stream: NodeJS.WriteStream): Promise<ProgressReporter> {
  const { SingleBar } = await import('cli-progress');
  const measure = meter();
  const progressBar = new SingleBar({
    stream,
    format: '{phase} [{bar}] {percentage}% | {done} of {size} | {speed} | ETA {left}',
    barsize: 30,
    hideCursor: true,
    clearOnComplete: true,
  });
  let started = false;
  return {
    update(progress) {
      const line = measure(progress);
      const payload = {
        phase: (PHASE_LABELS[progress.phase] ?? progress.phase).padEnd(LABEL_WIDTH),
        done: bytesText(line.bytes),
        size: line.total === null ? '?' : bytesText(line.total),
        speed: `${bytesText(line.rate)}/s`,
        left: line.eta === null ? '?' : `${line.eta}s`,
      };
      const total = line.total ?? Math.max(line.bytes, 1);
      if (!started) {
        progressBar.start(total, line.bytes, payload);
        started = true;
      } else {
        progressBar.setTotal(total);
        progressBar.update(line.bytes, payload);
      }
    },
    stop() {
      if (started) progressBar.stop();
    },
  };
}

function bytesText(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
