import { AckPolicy, DeliverPolicy, nanos, nuid, type JetStreamClient, type JetStreamManager } from 'nats';

export interface RecentMsgIdsOptions {
  /** The stream's subjects to read (a NATS user's permission names the filter: infra/nats/nats.conf). */
  readonly filterSubject: string;
  /** At most this many of the stream's last messages are read. */
  readonly max: number;
  /** The read stops about here with what it has. */
  readonly timeoutMs: number;
}

export interface RecentMsgIds {
  /** `Nats-Msg-Id`s of the messages read, oldest first. */
  readonly ids: string[];
  /** False when the time ran out before the last message there was at the start was read. */
  readonly complete: boolean;
}

/**
 * The `Nats-Msg-Id`s of the stream's last `max` messages that the filter takes, up to the last
 * message there was at the start, read with an ephemeral consumer that gets headers only (no
 * bodies cross the wire) and deleted after. Not nats.js's ordered consumer: that one tries again
 * for minutes to create a consumer the server refuses; this fails at once.
 */
export async function recentMsgIds(js: JetStreamClient, jsm: JetStreamManager, stream: string, options: RecentMsgIdsOptions): Promise<RecentMsgIds> {
  const deadline = Date.now() + options.timeoutMs;
  const { state } = await jsm.streams.info(stream);
  const ids: string[] = [];
  if (state.messages === 0 || options.max <= 0) return { ids, complete: true };
  const last = state.last_seq;
  const name = `recent_${nuid.next()}`;
  await jsm.consumers.add(stream, {
    name,
    filter_subject: options.filterSubject,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(state.first_seq, last - options.max + 1),
    ack_policy: AckPolicy.None,
    headers_only: true,
    mem_storage: true,
    num_replicas: 1,
    // Gone on its own if this process dies before deleting it.
    inactive_threshold: nanos(60_000),
  });
  let complete = false;
  try {
    const consumer = await js.consumers.get(stream, name);
    while (!complete && Date.now() < deadline) {
      const messages = await consumer.fetch({ max_messages: 1_000, expires: Math.max(1_000, Math.min(5_000, deadline - Date.now())) });
      let got = 0;
      for await (const m of messages) {
        got += 1;
        const id = m.headers?.get('Nats-Msg-Id');
        if (id) ids.push(id);
        // `pending` 0: the last message the filter takes (the stream's last may be on another subject).
        if (m.seq >= last || m.info.pending === 0) {
          complete = true;
          break;
        }
      }
      // Nothing came: done if nothing is left to read (the messages may have been removed meanwhile).
      if (got === 0 && !complete) complete = (await consumer.info()).num_pending === 0;
    }
  } finally {
    await jsm.consumers.delete(stream, name).catch(() => undefined);
  }
  return { ids, complete };
}
