// Writes a raw disk of mixed content from a seed: runs of zeros, compressible text and random bytes at
// uneven offsets, so zero-skipping and compression both matter. Usage: node content.mjs SEED SIZE OUT
import { openSync, writeSync, ftruncateSync, closeSync } from 'node:fs';

const [seedText, sizeText, out] = process.argv.slice(2);
const size = Number(sizeText);
let state = Number(seedText) >>> 0 || 1;
const random = () => {
  // xorshift32: deterministic from the seed, good enough to make incompressible bytes
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state;
};
const fd = openSync(out, 'w');
ftruncateSync(fd, size);
const text = Buffer.from('diskport fixture text: the quick brown fox jumps over the lazy dog 0123456789\n'.repeat(64));
for (let offset = 0; offset < size; ) {
  const run = Math.min(size - offset, 512 * (1 + (random() % 2048)));
  const kind = random() % 3; // 0 zeros (a hole), 1 text, 2 random
  if (kind === 1) {
    for (let at = 0; at < run; at += text.length) writeSync(fd, text, 0, Math.min(text.length, run - at), offset + at);
  } else if (kind === 2) {
    const bytes = Buffer.alloc(run);
    for (let at = 0; at + 4 <= run; at += 4) bytes.writeUInt32LE(random(), at);
    writeSync(fd, bytes, 0, run, offset);
  }
  offset += run + 512 * (random() % 64); // and an unwritten gap
}
closeSync(fd);
