import { formatPath } from '@s1c/contracts';
import type { z } from 'zod';
import type { CliSettings } from './cli.env';
import { CliError, EXIT, printableUrl } from './cli.errors';
import { healthApiErrorSchema, sourceStatusPageSchema, sourceStatusSchema, type SourceStatus } from './health.schemas';

const PAGE = 500;

/** The health service's HTTP API (bearer `S1C_API_TOKEN` when set). */
export class HealthClient {
  constructor(
    private readonly settings: CliSettings,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  /** Every source's status (all pages), and the raw pages' items for `--json`. */
  async sources(): Promise<{ items: SourceStatus[]; raw: unknown[] }> {
    const items: SourceStatus[] = [];
    const raw: unknown[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const { value, body } = await this.get(`/api/v1/sources?limit=${PAGE}&offset=${offset}`, sourceStatusPageSchema);
      items.push(...value.items);
      raw.push(...((body as { items: unknown[] }).items ?? []));
      if (value.items.length === 0 || offset + value.items.length >= value.total) return { items, raw };
    }
  }

  /** One source's status with its open health events; a 404 is a refusal (exit 1). */
  async source(id: string): Promise<{ value: SourceStatus; body: unknown }> {
    return this.get(`/api/v1/sources/${encodeURIComponent(id)}`, sourceStatusSchema);
  }

  private async get<T>(path: string, schema: z.ZodType<T>): Promise<{ value: T; body: unknown }> {
    const base = printableUrl(this.settings.healthUrl);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.settings.apiToken) headers.authorization = `Bearer ${this.settings.apiToken}`;
    let response: Response;
    try {
      response = await this.fetchFn(`${this.settings.healthUrl}${path}`, { headers, signal: AbortSignal.timeout(this.settings.timeoutMs) });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') throw new CliError(EXIT.timeout, `the health API at ${base} did not answer within ${this.settings.timeoutMs} ms`);
      throw new CliError(EXIT.unreachable, `cannot reach the health API at ${base}: ${causeOf(error)}`, [
        'Set S1C_HEALTH_URL (or --health-url) to the health service, e.g. http://127.0.0.1:8080.',
      ]);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new CliError(EXIT.badReply, `the health API at ${base} answered ${path.split('?')[0]} with ${response.status} and a body that is not JSON`);
    }
    if (response.status === 401) {
      throw new CliError(EXIT.refused, `the health API at ${base} wants a bearer token: ${this.settings.apiToken ? 'S1C_API_TOKEN was refused' : 'set S1C_API_TOKEN'}`);
    }
    if (!response.ok) {
      const error = healthApiErrorSchema.safeParse(body);
      if (error.success) {
        throw new CliError(EXIT.refused, `${error.data.error.code}: ${error.data.error.message}`, (error.data.error.details ?? []).map((d) => d.message));
      }
      throw new CliError(EXIT.badReply, `the health API at ${base} answered ${response.status} without an error body`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new CliError(
        EXIT.badReply,
        `the health API's answer to ${path.split('?')[0]} does not match its contract`,
        parsed.error.issues.slice(0, 10).map((issue) => `${formatPath(issue.path) || '(body)'}: ${issue.message}`),
      );
    }
    return { value: parsed.data, body };
  }
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (cause?.code === 'ENOTFOUND') return 'unknown host';
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
