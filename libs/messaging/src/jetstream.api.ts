import { NatsError } from 'nats';

/** How many times a JetStream API request that got no answer in time is sent (about a second apart). */
const API_ATTEMPTS = 5;

/** No answer in time, or JetStream said it is unavailable (503): worth asking again. */
export function isJetStreamUnavailable(error: unknown): boolean {
  return error instanceof NatsError && (error.code === 'TIMEOUT' || error.code === '503' || error.api_error?.code === 503);
}

/**
 * A JetStream API request, sent again when it got no answer in time or JetStream said it is
 * unavailable: a cluster electing a leader, or busy with every service starting at once. Only for
 * requests that are harmless to repeat (reads, idempotent creates and updates).
 */
export async function askJetStream<T>(
  logger: { warn(obj: object, msg: string): void },
  what: string,
  request: () => Promise<T>,
  options: { attempts?: number; intervalMs?: number } = {},
): Promise<T> {
  const attempts = options.attempts ?? API_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (!isJetStreamUnavailable(error) || attempt >= attempts) throw error;
      logger.warn({ what, attempt, code: (error as NatsError).code }, 'JetStream did not answer in time: asking again');
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 1000));
    }
  }
}
