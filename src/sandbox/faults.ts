/**
 * The errors the sandbox's EC2 endpoint answers with, as EC2 does: a code from EC2's published list, a message,
 * and the HTTP status EC2 pairs with it (400 for client errors, 412 for DryRunOperation, 401 for missing or
 * malformed authentication).
 */
const STATUS_BY_CODE: Record<string, number> = {
  DryRunOperation: 412,
  AuthFailure: 401,
  MissingAuthenticationToken: 401,
  IncompleteSignature: 401,
};

export class Ec2Fault extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'Ec2Fault';
    this.code = code;
    this.status = STATUS_BY_CODE[code] ?? 400;
  }
}

/** What EC2 says when DryRun is set and the request would have succeeded. */
export function dryRunSucceeded(): Ec2Fault {
  return new Ec2Fault('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
}
