import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const INSTALL_HINTS: Record<string, string> = {
  'nats-server': 'install it with `npm run setup` (or `apt-get update && apt-get install -y nats-server`), or set NATS_URL to a running server with JetStream',
  ferretdb:
    'install it with `npm run setup` (it builds github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2 with Go), or set MONGO_URL to a running MongoDB-compatible server',
};

/** Thrown when a server binary the tests need is not installed; says how to install it. */
export class MissingBinaryError extends Error {
  constructor(readonly binary: string, searched: string[]) {
    super(`${binary} was not found (looked in ${searched.join(', ')}): ${INSTALL_HINTS[binary] ?? 'install it'}`);
    this.name = 'MissingBinaryError';
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds a binary: the env override first, then PATH, then extra well-known places. */
export function findBinary(name: string, envOverride: string | undefined, extraDirs: string[] = []): string {
  if (envOverride) {
    if (isExecutable(envOverride)) return envOverride;
    throw new MissingBinaryError(name, [envOverride]);
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  throw new MissingBinaryError(name, ['PATH', ...extraDirs]);
}
