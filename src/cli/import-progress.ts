/**
 * What `diskport import` shows while it works. With --json: JSON lines on stdout, one per event (the upload's
 * byte progress through the upload command's own reporter, at most one a second), the result comes after. On a
 * terminal: a line per step on stderr, the upload's bar, then a bar for the import task (Progress, StatusMessage).
 * Nothing when stderr is not a terminal and --json is off: the summary on stdout says it all.
 */
import type { ImportEvent } from '../import/import.js';
import type { ImportTaskState } from '../import/status.js';
import { jsonLines, progressReporter, type ProgressReporter } from './progress.js';

export interface ImportReporter {
  update(event: ImportEvent): void;
  stop(): void;
}

export async function importReporter(options: { json?: boolean; stream?: NodeJS.WriteStream }): Promise<ImportReporter | undefined> {
  if (options.json) return jsonReporter((line) => process.stdout.write(`${JSON.stringify(line)}\n`));
  const stream = options.stream ?? process.stderr;
  return stream.isTTY ? terminalReporter(stream) : undefined;
}

export function jsonReporter(write: (line: object) => void): ImportReporter {
  const bytes = jsonLines(write);
  return {
    update(event) {
      if (event.event === 'progress') bytes.update(event);
      else if (event.event === 'task') write({ event: 'task', ...event.state });
      else write(event);
    },
    stop() {},
  };
}

async function terminalReporter(stream: NodeJS.WriteStream): Promise<ImportReporter> {
  const { SingleBar } = await import('cli-progress');
  let upload: ProgressReporter | undefined = await progressReporter({ stream });
  const task = new SingleBar({ stream, format: 'import    [{bar}] {percentage}% | {step}', barsize: 30, hideCursor: true, clearOnComplete: true });
  let following = false;
  const say = (line: string) => stream.write(`${line}\n`);
  const stopUpload = () => {
    upload?.stop();
    upload = undefined;
  };
  return {
    update(event) {
      switch (event.event) {
        case 'check':
          say(`checked   ${event.file}: ${verdict(event)}`);
          return;
        case 'progress':
          upload?.update(event);
          return;
        case 'uploaded':
          stopUpload();
          say(`uploaded  ${event.url}${event.reused ? ' (already there from an earlier run)' : ''}`);
          return;
        case 'started':
          say(`importing ${event.taskId}`);
          return;
        case 'task':
          following = showTask(task, event.state, following);
      }
    },
    stop() {
      stopUpload();
      if (following) task.stop();
    },
  };
}

function verdict(event: Extract<ImportEvent, { event: 'check' }>): string {
  if (event.convertTo !== null) return `not a format VM Import reads: converting to ${event.convertTo.toUpperCase()} while uploading`;
  return event.ok ? 'ok' : `${event.counts.errors} error(s)`;
}

/** Moves the task bar; returns whether it is showing. */
function showTask(bar: import('cli-progress').SingleBar, state: ImportTaskState, showing: boolean): boolean {
  const step = state.status === 'active' ? (state.statusMessage ?? 'active') : state.status;
  const percent = state.status === 'completed' ? 100 : (state.progress ?? 0);
  if (!showing) bar.start(100, percent, { step });
  else bar.update(percent, { step });
  return true;
}
