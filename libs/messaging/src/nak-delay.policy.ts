/** Default redelivery delays after a retryable failure, by delivery count: 1 s, 5 s, 15 s, 30 s, then 60 s. */
export const DEFAULT_NAK_DELAYS_MS: readonly number[] = [1_000, 5_000, 15_000, 30_000, 60_000];

/**
 * The delay before redelivering a message that failed on its `deliveryCount`-th delivery
 * (1-based): the matching entry of `delaysMs`, or its last entry once the curve runs out.
 */
export function nakDelayFor(deliveryCount: number, delaysMs: readonly number[] = DEFAULT_NAK_DELAYS_MS): number {
  if (delaysMs.length === 0) return 0;
  const index = Math.min(Math.max(deliveryCount, 1), delaysMs.length) - 1;
  return delaysMs[index] ?? 0;
}
