import type { Db } from 'mongodb';
import type { NatsConnection } from 'nats';
import type { DependencyCheck, Readiness } from './api.schemas';

/** Where the read models are: `ready` once the log replayed at start is in memory; `checkpoint`, the S1C_EVENTS sequence read up to (not saved). */
export type ReadModelState = Readiness['readModel'];

/**
 * Readiness: NATS and MongoDB answer a round trip each (bounded by `timeoutMs`), and the read
 * models are ready (they hold the whole log as of the start: until then the status is incomplete).
 */
export class DependencyProbes {
  constructor(
    private readonly nc: NatsConnection,
    private readonly db: Db,
    private readonly readModel: () => ReadModelState,
    private readonly timeoutMs = 2000,
  ) {}

  async check(): Promise<Readiness> {
    const [nats, mongodb] = await Promise.all([
      this.timed(() => (this.nc.isClosed() ? Promise.reject(new Error('connection closed')) : this.nc.rtt())),
      this.timed(() => this.db.command({ ping: 1 })),
    ]);
    const readModel = this.readModel();
    const ok = nats.ok && mongodb.ok && readModel.ready;
    return { status: ok ? 'ok' : 'unavailable', checks: { nats, mongodb }, readModel };
  }

  private async timed(probe: () => Promise<unknown>): Promise<DependencyCheck> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        probe(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
      return { ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
    } catch (error) {
      // Only the kind of failure: driver messages can name hosts and, in URLs, credentials.
      return { ok: false, error: describe(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/within \d+ ms/.test(message)) return message;
  if (/closed/i.test(message)) return 'connection closed';
  const code = (error as { code?: unknown }).code;
  return `unreachable${typeof code === 'string' || typeof code === 'number' ? ` (${code})` : ''}`;
}
