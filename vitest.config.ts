import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts', 'test/s3/rgw-global.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
