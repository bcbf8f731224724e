import type { Decider } from './decider';
import { formatMicros, parseMicros, toMicroIso } from './timestamps';

/** The log stream of a source's API token health: `token-<sourceId>`. */
export const tokenStreamId = (sourceId: string): string => `token-${sourceId}`;

/** The health event type of a token that expires soon (docs/OPERATIONS.md, "Health events"). */
export const TOKEN_EXPIRING = 'TokenExpiring';
const EVENT_NAME = 'TokenExpiringWarning';
const DAY_MS = 86_400_000;

/**
 * A `token-<sourceId>` stream's events: the warning before a token expires, raised again once a
 * day while it lasts, and resolved once the source's token is good for longer. They are about the
 * source, not one of its APIs, so they carry no `api`.
 */
export type TokenHealthEvent =
  | {
      readonly type: 'HealthEventRaised';
      readonly data: {
        readonly sourceId: string;
        readonly at: string;
        readonly healthEventId: string;
        readonly severity: 'Warning';
        readonly errorType: typeof TOKEN_EXPIRING;
        readonly eventName: string;
        readonly description: string;
        readonly retry: { readonly retrying: false };
        /** When the token expires, as SentinelOne reported it. */
        readonly expiresAt: string;
      };
    }
  | { readonly type: 'HealthEventResolved'; readonly data: { readonly sourceId: string; readonly at: string; readonly healthEventId: string } };

/** The open warning, if any: its id, the expiry it warned of, and the UTC day it was last raised. */
export interface TokenHealthState {
  readonly open: { readonly healthEventId: string; readonly expiresAt: string; readonly day: string } | null;
}

/**
 * What a fetcher learnt of a source's token (`users/api-token-details`): its expiry, or null when
 * SentinelOne did not say (the token may not ask, or the console does not offer it).
 */
export interface RecordTokenExpiry {
  readonly type: 'RecordTokenExpiry';
  readonly data: {
    readonly sourceId: string;
    readonly expiresAt: string | null;
    /** S1C_TOKEN_EXPIRY_WARNING_DAYS: how long before the expiry to warn; 0 never warns. */
    readonly warningDays: number;
    readonly at: Date;
  };
}

const day = (micros: number): string => formatMicros(micros).slice(0, 10);

/** "in 3 days", "in 5 hours", or "2 days ago". */
function distance(fromMicros: number, toMicros: number): string {
  const ms = (toMicros - fromMicros) / 1000;
  const abs = Math.abs(ms);
  const [amount, unit] = abs >= 2 * DAY_MS ? [Math.floor(abs / DAY_MS), 'days'] : [Math.max(1, Math.floor(abs / 3_600_000)), 'hours'];
  const text = `${amount} ${amount === 1 ? unit.slice(0, -1) : unit}`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/**
 * A source's API token health: a token that expires within `warningDays` raises a Warning
 * (`TokenExpiring`), raised again on each later UTC day it is still seen (one more occurrence, with
 * the days left), and resolved when a check finds the expiry further away (the token was replaced
 * or extended). An unknown expiry changes nothing: it neither raises nor resolves.
 */
export const tokenHealthDecider: Decider<TokenHealthState, RecordTokenExpiry, TokenHealthEvent> = {
  initialState(): TokenHealthState {
    return { open: null };
  },

  decide(command: RecordTokenExpiry, state: TokenHealthState): TokenHealthEvent[] {
    const { sourceId, warningDays } = command.data;
    const at = toMicroIso(command.data.at);
    const nowMicros = parseMicros(at)!;
    const expiresMicros = command.data.expiresAt === null ? undefined : parseMicros(command.data.expiresAt);
    if (expiresMicros === undefined) return [];
    const expiresAt = formatMicros(expiresMicros);
    const soon = warningDays > 0 && expiresMicros - nowMicros <= warningDays * DAY_MS * 1000;
    if (!soon) return state.open ? [{ type: 'HealthEventResolved', data: { sourceId, at, healthEventId: state.open.healthEventId } }] : [];
    if (state.open && state.open.expiresAt === expiresAt && state.open.day === day(nowMicros)) return [];
    const expired = expiresMicros <= nowMicros;
    const description = expired
      ? `The source's API token has expired (at ${expiresAt}, ${distance(nowMicros, expiresMicros)}): SentinelOne refuses it. Create a new API token in the console and update the source's api_secret.`
      : `The source's API token will expire at ${expiresAt} (${distance(nowMicros, expiresMicros)}); collection stops then. Create a new API token in the console and update the source's api_secret before it does.`;
    return [
      {
        type: 'HealthEventRaised',
        data: {
          sourceId,
          at,
          healthEventId: state.open?.healthEventId ?? `health-${sourceId}-token-${TOKEN_EXPIRING}-${nowMicros}`,
          severity: 'Warning',
          errorType: TOKEN_EXPIRING,
          eventName: EVENT_NAME,
          description,
          retry: { retrying: false },
          expiresAt,
        },
      },
    ];
  },

  evolve(state: TokenHealthState, event: TokenHealthEvent): TokenHealthState {
    if (event.type === 'HealthEventResolved') return { open: null };
    return { open: { healthEventId: event.data.healthEventId, expiresAt: event.data.expiresAt, day: day(parseMicros(event.data.at)!) } };
  },
};

/** Whether a logged event belongs to a token health stream's fold. */
export const isTokenHealthEvent = (event: { type: string }): boolean => event.type === 'HealthEventRaised' || event.type === 'HealthEventResolved';
