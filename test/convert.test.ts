import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { manifest } from './helpers.js';
import { expectFaithfulConversion, readableFixtures } from './writer-oracle.js';

const dir = mkdtempSync(join(tmpdir(), 'diskport-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('every readable fixture converts faithfully', () => {
  for (const entry of readableFixtures(manifest)) {
    it(`${entry.file} -> raw`, async () => {
      await expectFaithfulConversion(entry, join(dir, `${entry.file}.raw`), { to: 'raw' });
    });
    for (const subformat of ['streamOptimized', 'monolithicSparse']) {
      it(`${entry.file} -> vmdk ${subformat}`, async () => {
        await expectFaithfulConversion(entry, join(dir, `${entry.file}.${subformat}.vmdk`), { to: 'vmdk', subformat });
      });
    }
  }
});
