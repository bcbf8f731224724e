import { vitestConfig } from '../../vitest.base.mjs';

export default vitestConfig({ testTimeoutMs: 60_000 });
