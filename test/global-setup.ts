import { execFileSync } from 'node:child_process';

/** Makes the fixtures once per run (make.sh skips the work when they are current). */
export default function setup(): void {
  execFileSync('bash', ['test/images/make.sh'], { stdio: 'inherit' });
}
