import { Notifications, type ParamsOf } from '../../core/rpc/methods';
import { FINAL_INTENT_STATES, type IntentDetail, type IntentSummary } from '../../core/rpc/views';
import type { ProgressStream } from '../../core/wire/intent';
import type { BrokerClient } from './broker-client';

/** What a caller hears while its intent is on its way: state changes, the agent's progress, a reviewer asked. */
export interface DispatchWatch {
  onState?(intent: IntentSummary): void;
  onProgress?(progress: { stream: ProgressStream; text: string }): void;
  /** A tool call of this intent waits for a reviewer (an approval request was made). */
  onApprovalPending?(requestId: string): void;
}

export interface DispatchOptions extends DispatchWatch {
  /** Aborted: the intent is cancelled at the broker (intents/cancel), so it really ends, and its final state is returned. */
  signal?: AbortSignal;
  /** Give up waiting after this long (the intent runs on); none: until it ends, which the broker's answer deadline bounds. */
  timeoutMs?: number;
}

/** The broker went away, or the wait ran past its time, before the intent ended. */
export class DispatchWaitError extends Error {
  override readonly name = 'DispatchWaitError';
  constructor(
    message: string,
    readonly intentId: string | undefined,
  ) {
    super(message);
  }
}

const isFinal = (intent: Pick<IntentSummary, 'state'>) => FINAL_INTENT_STATES.includes(intent.state);

/**
 * Dispatches one intent as the client's user and waits for its final state; answers its detail (output and signed
 * envelopes, from intents/get). The one dispatch-and-wait of the CLI's `dispatch` and of `broker mcp`.
 *
 * Race-free without remembering other intents: the watch is set before the dispatch, acts only once the id is
 * known, and one intents/get after that catches an end that came between the answer and the id.
 */
export async function dispatchAndWait(client: BrokerClient, params: ParamsOf<'intentsDispatch'>, options: DispatchOptions = {}): Promise<IntentDetail> {
  let id: string | undefined;
  let settle: ((ended: true | Error) => void) | undefined;
  const ended = new Promise<true | Error>((resolve) => (settle = resolve));
  const subscriptions = [
    client.listen(Notifications.intentChanged.method, (raw: unknown) => {
      if (id === undefined || (raw as { intent?: { id?: unknown } } | undefined)?.intent?.id !== id) return;
      const parsed = Notifications.intentChanged.params.safeParse(raw);
      if (!parsed.success) return;
      options.onState?.(parsed.data.intent);
      if (isFinal(parsed.data.intent)) settle?.(true);
    }),
    client.listen(Notifications.intentProgress.method, (raw: unknown) => {
      if (id === undefined || (raw as { intentId?: unknown } | undefined)?.intentId !== id) return;
      const parsed = Notifications.intentProgress.params.safeParse(raw);
      if (parsed.success) options.onProgress?.({ stream: parsed.data.stream, text: parsed.data.text });
    }),
    client.listen(Notifications.approvalChanged.method, (raw: unknown) => {
      if (id === undefined || (raw as { approval?: { intentId?: unknown } } | undefined)?.approval?.intentId !== id) return;
      const parsed = Notifications.approvalChanged.params.safeParse(raw);
      if (parsed.success && parsed.data.approval.state === 'pending') options.onApprovalPending?.(parsed.data.approval.requestId);
    }),
    client.connection.onClose(() => settle?.(new DispatchWaitError('the broker closed the connection before the intent ended', id))),
  ];
  let timer: NodeJS.Timeout | undefined;
  const cancel = () => {
    // A cancel that finds the intent final already (409) changes nothing: the final state is read next either way.
    if (id !== undefined) client.call('intentsCancel', { id }).catch(() => undefined);
  };
  try {
    const sent = await client.call('intentsDispatch', params);
    id = sent.id;
    options.onState?.(sent);
    if (isFinal(sent)) return await client.call('intentsGet', { id });
    options.signal?.addEventListener('abort', cancel, { once: true });
    if (options.signal?.aborted) cancel();
    if (options.timeoutMs !== undefined) {
      const seconds = options.timeoutMs / 1000;
      timer = setTimeout(() => settle?.(new DispatchWaitError(`no result within ${seconds} s; see "intent ${id}"`, id)), options.timeoutMs);
    }
    const now = await client.call('intentsGet', { id });
    if (isFinal(now)) return now;
    const outcome = await ended;
    if (outcome instanceof Error) throw outcome;
    // Notifications carry summaries: the output and signed envelopes come with the intent's detail.
    return await client.call('intentsGet', { id });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', cancel);
    for (const s of subscriptions) s.dispose();
  }
}
