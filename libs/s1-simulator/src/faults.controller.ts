import { z } from 'zod';
import { msToMicros, MICROS_PER_SECOND, type Micros } from './timestamp.util.js';

const match = {
  /** Applies to the next `count` matching requests (default 1 when no durationMs). */
  count: z.number().int().min(1).optional(),
  /** Applies to every matching request for this long (simulator clock). */
  durationMs: z.number().int().min(1).optional(),
  /** Only requests whose path starts with this, e.g. `/web/api/v2.1/threats`. */
  path: z.string().startsWith('/').optional(),
  /** Only requests made with the token of this label. */
  token: z.string().min(1).optional(),
};

export const faultSchema = z.discriminatedUnion('kind', [
  /** Answer with this status (429 and 5xx get S1-like bodies), optionally with Retry-After. */
  z.object({ kind: z.literal('status'), status: z.number().int().min(400).max(599), retryAfterSeconds: z.number().int().min(0).optional(), ...match }),
  /** Delay the response. Combines with one other fault. */
  z.object({ kind: z.literal('latency'), latencyMs: z.number().int().min(0).max(600_000), ...match }),
  /** Send the headers and part of the body, then destroy the connection. */
  z.object({ kind: z.literal('reset'), ...match }),
  /** Send a 200 whose JSON body is cut in the middle. */
  z.object({ kind: z.literal('truncate'), ...match }),
  /** Send a 200 whose body is not JSON at all. */
  z.object({ kind: z.literal('invalid-json'), ...match }),
]);
export type FaultSpec = z.input<typeof faultSchema>;
type Fault = z.output<typeof faultSchema>;

interface ActiveFault {
  readonly id: number;
  readonly spec: Fault;
  remaining: number | undefined;
  readonly until: Micros | undefined;
}

export interface FaultView {
  readonly id: number;
  readonly spec: FaultSpec;
  readonly remaining: number | null;
}

/** Faults that hit one request: at most one terminal fault plus any added latency. */
export interface FaultHit {
  readonly latencyMs: number;
  readonly terminal?: Exclude<Fault, { kind: 'latency' }>;
}

/** Injected faults (admin API) and per-token rate limits (token buckets on the sim clock). */
export class FaultsController {
  private faults: ActiveFault[] = [];
  private nextId = 1;
  private readonly buckets = new Map<string, { tokens: number; at: Micros }>();

  add(spec: FaultSpec, now: Micros): number {
    const fault = faultSchema.parse(spec);
    const id = this.nextId;
    this.nextId += 1;
    this.faults.push({
      id,
      spec: fault,
      remaining: fault.count ?? (fault.durationMs === undefined ? 1 : undefined),
      until: fault.durationMs === undefined ? undefined : now + msToMicros(fault.durationMs),
    });
    return id;
  }

  remove(id: number): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length < before;
  }

  clear(): void {
    this.faults = [];
    this.buckets.clear();
  }

  list(now: Micros): FaultView[] {
    this.expire(now);
    return this.faults.map((f) => ({ id: f.id, spec: f.spec, remaining: f.remaining ?? null }));
  }

  /** Finds and consumes the faults that apply to this request. */
  take(path: string, tokenLabel: string | undefined, now: Micros): FaultHit {
    this.expire(now);
    let latencyMs = 0;
    let terminal: FaultHit['terminal'];
    for (const f of this.faults) {
      const s = f.spec;
      if ((s.path !== undefined && !path.startsWith(s.path)) || (s.token !== undefined && s.token !== tokenLabel)) continue;
      if (s.kind === 'latency') latencyMs += s.latencyMs;
      else if (terminal === undefined) terminal = s;
      else continue;
      if (f.remaining !== undefined) f.remaining -= 1;
    }
    this.faults = this.faults.filter((f) => f.remaining === undefined || f.remaining > 0);
    return { latencyMs, ...(terminal && { terminal }) };
  }

  /**
   * Token bucket per token: `perSecond` requests per second with a burst of the same size.
   * Returns undefined when allowed, else the Retry-After in whole seconds.
   */
  rateLimit(label: string, perSecond: number | undefined, now: Micros): number | undefined {
    if (perSecond === undefined) return undefined;
    const bucket = this.buckets.get(label) ?? { tokens: perSecond, at: now };
    const tokens = Math.min(perSecond, bucket.tokens + ((now - bucket.at) / MICROS_PER_SECOND) * perSecond);
    if (tokens >= 1) {
      this.buckets.set(label, { tokens: tokens - 1, at: now });
      return undefined;
    }
    this.buckets.set(label, { tokens, at: now });
    return Math.max(1, Math.ceil((1 - tokens) / perSecond));
  }

  private expire(now: Micros): void {
    this.faults = this.faults.filter((f) => f.until === undefined || f.until > now);
  }
}
