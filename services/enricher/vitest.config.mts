import { vitestConfig } from '../../vitest.base.mjs';

const config = vitestConfig({ withServers: true, testTimeoutMs: 60_000 });
// The raw and data streams (and their durable consumers) have fixed names: test files take turns.
config.test = { ...config.test, fileParallelism: false };
export default config;
