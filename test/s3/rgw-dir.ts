import { join } from 'node:path';

/** The cluster's folder inside the run's folder (which also holds the start-up lock and the ready file). */
export function rgwClusterDir(runDir: string): string {
  return join(runDir, 'cluster');
}
