/** `diskport import cancel TASK`: CancelImportTask; the task then goes deleting, then deleted. */
import { createEc2Client, ec2Sdk } from './client.js';
import { ec2Error } from './ec2-errors.js';
import type { StatusOptions } from './status.js';

export interface CancelOptions extends StatusOptions {
  /** Recorded as the task's StatusMessage. */
  reason?: string;
}

export interface CancelResult {
  taskId: string;
  previousState: string | null;
  state: string | null;
}

export async function cancelImport(taskId: string, options: CancelOptions = {}): Promise<CancelResult> {
  const client = options.client ?? (await createEc2Client(options));
  const { CancelImportTaskCommand } = await ec2Sdk();
  try {
    const reply = await client.send(new CancelImportTaskCommand({ ImportTaskId: taskId, ...(options.reason === undefined ? {} : { CancelReason: options.reason }) }));
    return { taskId: reply.ImportTaskId ?? taskId, previousState: reply.PreviousState ?? null, state: reply.State ?? null };
  } catch (error) {
    throw ec2Error(error, `cancel ${taskId}`);
  } finally {
    if (options.client === undefined) client.destroy();
  }
}
