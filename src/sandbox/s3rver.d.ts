/** The part of s3rver 3.7 (CommonJS, no bundled types) the sandbox uses. */
declare module 's3rver' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  interface S3rverOptions {
    /** Where buckets and objects are stored, one folder per bucket. */
    directory: string;
    silent?: boolean;
    /** Path-style only: a request's Host never names a bucket. */
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: string[] }[];
  }

  export default class S3rver {
    constructor(options: S3rverOptions);
    /** Creates the configured buckets in the store (run() does it before listening). */
    configureBuckets(): Promise<void>;
    /** The Koa request handler, for an http.Server of our own. */
    callback(): (request: IncomingMessage, response: ServerResponse) => void;
  }
}
