/**
 * One multipart upload being carried out: sends parts (recording each in the resume state), completes the
 * object, and when something goes wrong cleans up as the policy says:
 * - a failure (after the SDK's retries) aborts the multipart upload and removes the state file, so nothing is
 *   left behind, unless the run is itself a `--resume`: then both stay for another try;
 * - an interruption (the options' signal: Ctrl-C, SIGTERM) keeps both, so `--resume` continues (a stream,
 *   which cannot be resumed, is aborted);
 * - a crash leaves both: `--resume` continues.
 */
import { DiskError, asDiskError } from '../errors.js';
import { abortMultipart, completeMultipart, headObject, uploadPart, type Multipart } from './multipart.js';
import { sendParts, type Part } from './part-loop.js';
import type { CompletedPart, StateFile } from './state.js';
import { s3Url } from './target.js';
import type { UploadOptions } from './upload.js';

export interface SendPlan {
  concurrency: number;
  /** The object's size, undefined for a stream. */
  total: number | undefined;
  /** Parts already on the server (a resume), counted in the progress. */
  done: CompletedPart[];
}

export class UploadSession {
  constructor(
    readonly multipart: Multipart,
    private readonly state: StateFile | undefined,
    private readonly options: UploadOptions,
    /** True in a --resume run: a failure keeps the upload for the next try. */
    private readonly keepOnFailure: boolean,
  ) {}

  get url(): string {
    return s3Url(this.multipart.target);
  }

  /** Saves the initial state; if that fails, the upload just created is aborted. */
  async begin(): Promise<void> {
    try {
      await this.state?.save();
    } catch (error) {
      await abortQuietly(this.multipart);
      throw error;
    }
  }

  /** Sends the parts, up to `concurrency` at a time; returns those sent, in the order they finished. */
  async send(parts: AsyncIterable<Part>, plan: SendPlan): Promise<CompletedPart[]> {
    const { onProgress } = this.options;
    const sent: CompletedPart[] = [];
    let bytes = plan.done.reduce((sum, part) => sum + part.size, 0);
    onProgress?.({ phase: 'upload', bytes, total: plan.total });
    const sendOne = async (part: Part, signal: AbortSignal): Promise<void> => {
      const finished = await uploadPart(this.multipart, part.number, part.bytes, signal);
      sent.push(finished);
      bytes += finished.size;
      onProgress?.({ phase: 'upload', bytes, total: plan.total });
      await this.state?.record(finished);
    };
    try {
      await sendParts(parts, plan.concurrency, sendOne, this.options.signal);
    } catch (error) {
      throw await this.fail(error);
    }
    return sent;
  }

  /** Completes the object from all its parts, checks its size, removes the state; returns the object's ETag. */
  async complete(parts: CompletedPart[], size: number): Promise<string> {
    try {
      await completeMultipart(this.multipart, parts);
    } catch (error) {
      throw await this.fail(error);
    }
    await this.state?.remove();
    const head = await headObject(this.multipart.client, this.multipart.target);
    if (head.size !== size) {
      throw new DiskError('S3_REQUEST_FAILED', `the finished object holds ${head.size} bytes, not the ${size} sent`, { file: this.url });
    }
    return head.etag;
  }

  /** The error to throw after cleaning up as the policy says; `final` errors are never kept for a resume. */
  async fail(error: unknown, final = false): Promise<DiskError> {
    if (this.options.signal?.aborted) return this.interrupted();
    const reason = asDiskError(error, this.url);
    if (this.keepOnFailure && !final && this.state !== undefined) {
      await this.state.save().catch(() => undefined);
      return withAdvice(reason, 'the upload is kept: run again with --resume to continue');
    }
    await this.state?.remove();
    const left = await abortQuietly(this.multipart);
    return left ? withAdvice(reason, `the server did not abort multipart upload ${this.multipart.uploadId}: remove it by hand`) : reason;
  }

  private async interrupted(): Promise<DiskError> {
    if (this.state === undefined) {
      await abortQuietly(this.multipart);
      return new DiskError('UPLOAD_INTERRUPTED', 'interrupted: the upload was aborted', { file: this.url });
    }
    await this.state.save().catch(() => undefined);
    return new DiskError('UPLOAD_INTERRUPTED', 'interrupted: run the same command with --resume to continue', { file: this.url });
  }
}

/** Aborts a multipart upload; returns true when it may still be there (s3rver cannot abort). */
export async function abortQuietly(multipart: Multipart): Promise<boolean> {
  try {
    await abortMultipart(multipart);
    return false;
  } catch {
    return true;
  }
}

function withAdvice(error: DiskError, advice: string): DiskError {
  return new DiskError(error.code, `${error.message}; ${advice}`, { ...error, cause: error.cause });
}
