/** One request as seen by the simulator: never the raw token, only its label. */
export interface RequestLogEntry {
  readonly seq: number;
  /** Simulator-clock time the request arrived. */
  readonly at: string;
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** Label of the token used; `unknown` for an unrecognised one, null when none was sent. */
  readonly token: string | null;
  readonly status: number;
  /** Injected fault applied, if any (`status`, `reset`, `truncate`, `invalid-json`, `rate-limit`). */
  readonly fault: string | null;
  readonly durationMs: number;
}

/** A bounded in-memory log of API requests for test assertions. */
export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private seq = 0;

  constructor(private readonly limit: number) {}

  add(entry: Omit<RequestLogEntry, 'seq'>): void {
    if (this.limit === 0) return;
    this.seq += 1;
    this.entries.push({ seq: this.seq, ...entry });
    // Trimmed in batches so adding stays O(1) amortised.
    if (this.entries.length >= this.limit * 2) this.entries = this.entries.slice(-this.limit);
  }

  /** Entries with seq greater than `since`, oldest first. */
  list(since = 0): RequestLogEntry[] {
    return this.entries.slice(-this.limit).filter((e) => e.seq > since);
  }

  clear(): void {
    this.entries = [];
  }
}
