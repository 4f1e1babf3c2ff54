// A minimal S3 endpoint for bench/upload: just enough of the multipart API (create, upload part, complete,
// abort, HEAD of a bucket and of the finished object) to take an upload, check each part (its length, and its
// x-amz-checksum-crc32 or Content-MD5 when sent) and throw it away, so a benchmark measures the client, not a
// server's disk. Signatures are not checked. Loopback only.
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { crc32 } from 'node:zlib';

export async function startDiscardEndpoint() {
  const uploads = new Map(); // uploadId -> { key, parts: Map<number, size> }
  const objects = new Map(); // key -> size
  const stats = { parts: 0, bytes: 0, rejected: 0 };

  const server = createServer((request, response) => {
    const url = new URL(request.url, 'http://x');
    const key = decodeURIComponent(url.pathname);
    const uploadId = url.searchParams.get('uploadId');
    const reply = (status, body = '', headers = {}) => {
      response.writeHead(status, { 'content-length': Buffer.byteLength(body), ...headers });
      response.end(body);
    };
    const fail = (status, code) => {
      stats.rejected++;
      reply(status, `<?xml version="1.0"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`, { 'content-type': 'application/xml' });
    };
    if (request.method === 'POST' && url.searchParams.has('uploads')) {
      const id = randomUUID();
      uploads.set(id, { key, parts: new Map() });
      return drain(request, () => reply(200, `<?xml version="1.0"?><InitiateMultipartUploadResult><Key>${key}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`));
    }
    if (request.method === 'PUT' && uploadId !== null) {
      const upload = uploads.get(uploadId);
      if (upload === undefined) return drain(request, () => fail(404, 'NoSuchUpload'));
      return receivePart(request, (error, size, etag) => {
        if (error !== undefined) return fail(400, error);
        upload.parts.set(Number(url.searchParams.get('partNumber')), size);
        stats.parts++;
        stats.bytes += size;
        reply(200, '', { etag });
      });
    }
    if (request.method === 'POST' && uploadId !== null) {
      const upload = uploads.get(uploadId);
      if (upload === undefined) return drain(request, () => fail(404, 'NoSuchUpload'));
      return drain(request, () => {
        objects.set(upload.key, [...upload.parts.values()].reduce((sum, size) => sum + size, 0));
        uploads.delete(uploadId);
        reply(200, `<?xml version="1.0"?><CompleteMultipartUploadResult><Key>${upload.key}</Key><ETag>"discarded-${upload.parts.size}"</ETag></CompleteMultipartUploadResult>`);
      });
    }
    if (request.method === 'DELETE' && uploadId !== null) {
      uploads.delete(uploadId);
      return drain(request, () => reply(204));
    }
    if (request.method === 'HEAD' && /^\/[^/]+\/?$/.test(key)) return drain(request, () => reply(200)); // HeadBucket: every bucket exists
    if (request.method === 'HEAD' && objects.has(key)) {
      response.writeHead(200, { 'content-length': objects.get(key), etag: '"discarded"' });
      return response.end();
    }
    drain(request, () => fail(request.method === 'HEAD' ? 404 : 501, request.method === 'HEAD' ? 'NoSuchKey' : 'NotImplemented'));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    stats,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function drain(request, then) {
  request.resume();
  request.once('end', then);
}

/** Reads a part, checking its length and whichever checksum came with it; calls back with an error code or its size. */
function receivePart(request, done) {
  if ((request.headers['content-encoding'] ?? '').includes('aws-chunked')) return drain(request, () => done('AwsChunkedNotSupported'));
  const wantedCrc = request.headers['x-amz-checksum-crc32'];
  const wantedMd5 = request.headers['content-md5'];
  const md5 = wantedMd5 === undefined ? undefined : createHash('md5');
  let crc = 0;
  let size = 0;
  request.on('data', (chunk) => {
    size += chunk.length;
    crc = crc32(chunk, crc);
    md5?.update(chunk);
  });
  request.once('end', () => {
    if (size !== Number(request.headers['content-length'])) return done('IncompleteBody');
    const crcText = Buffer.from([crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255]).toString('base64');
    if (wantedCrc !== undefined && wantedCrc !== crcText) return done('BadDigest');
    if (md5 !== undefined && md5.digest('base64') !== wantedMd5) return done('BadDigest');
    done(undefined, size, `"${crcText}"`);
  });
}
