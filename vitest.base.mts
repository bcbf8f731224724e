import swc from 'unplugin-swc';
import { defineConfig, type UserConfig } from 'vitest/config';

/**
 * Shared vitest settings. SWC compiles the sources so that NestJS gets the decorator
 * metadata esbuild would drop. `withServers` adds the harness that starts real
 * nats-server and FerretDB processes (or uses NATS_URL / MONGO_URL).
 */
export function vitestConfig(options: { withServers?: boolean; testTimeoutMs?: number } = {}): UserConfig {
  return defineConfig({
    plugins: [swc.vite({ module: { type: 'es6' } })],
    test: {
      include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
      testTimeout: options.testTimeoutMs ?? 30_000,
      hookTimeout: 60_000,
      globalSetup: options.withServers ? [new URL('./libs/test-harness/dist/global-setup.js', import.meta.url).pathname] : [],
      pool: 'forks',
      reporters: ['default'],
    },
  });
}
