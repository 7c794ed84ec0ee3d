import { BUDGETS } from '../../../core/budgets';
import { CHOSEN_TEXT_FIELDS, type NotificationBody, type NotificationSummary } from '../../../core/ops/notification';
import { shortFingerprint } from '../../../core/text/untrusted-text';
import type { NotifyOptions } from '../ops-options';
import type { NotificationFacts } from './notification-facts';

/** What the broker adds to the facts of one notification. */
export interface Envelope {
  deliveryId: string;
  time: string;
  broker: string;
}

const MARK = '…';
/** Slack refuses a block whose field text passes 2000 characters, or a section's 3000 (its Block Kit limits), whatever the body's size. */
const SLACK_FIELD_CHARS = 1_900;
const SLACK_SECTION_CHARS = 2_900;

const label = (name: string | undefined, did: string | undefined) => (did ? (name ? `${name} (${shortFingerprint(did)})` : did) : (name ?? 'somebody'));

/** One line for people, from the facts as cut. */
function sentence(type: NotificationFacts['type'], s: NotificationSummary): string {
  const agent = label(s.agentName, s.agent);
  const because = s.reason ? `: ${s.reason}` : '';
  switch (type) {
    case 'approval.requested':
      return `${agent} waits for a reviewer: ${s.capability} for ${label(s.userName, s.user)}`;
    case 'approval.decided':
      return `${s.capability} on ${agent} was ${s.state} by ${label(s.decidedByName, s.decidedBy)}${because}`;
    case 'approval.expired':
      return `${s.capability} on ${agent} ended without a decision${because}`;
    case 'registration.pending':
      return `New agent ${agent} awaits approval (asks for ${s.requested})`;
    case 'agent.revoked':
      return `Agent ${agent} was revoked${because}`;
    case 'intent.failed':
      return `${s.capability} on ${agent} for ${label(s.userName, s.user)} ended ${s.state}${because}`;
  }
}

function jsonBody(facts: NotificationFacts, envelope: Envelope, summary: NotificationSummary, truncated: boolean): string {
  const body: NotificationBody = {
    type: facts.type,
    ...envelope,
    text: sentence(facts.type, summary),
    summary,
    ...(facts.link ? { link: facts.link } : {}),
    truncated,
  };
  return JSON.stringify(body);
}

// Slack reads <…> as a link or a mention and & as an entity: text someone chose is escaped, so an agent named
// "<https://evil.example|Approve here>" is shown as typed, never as a link of its own.
const slackText = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The longest start of `text` that, escaped, stays within `chars` (the mark included when cut). */
function slackFit(text: string, chars: number): string {
  if (slackText(text).length <= chars) return text;
  let used = MARK.length;
  let end = 0;
  for (const c of text) {
    used += slackText(c).length;
    if (used > chars) break;
    end += c.length;
  }
  return `${text.slice(0, end)}${MARK}`;
}

function slackBody(facts: NotificationFacts, envelope: Envelope, summary: NotificationSummary, truncated: boolean): string {
  const text = sentence(facts.type, summary);
  const fields = Object.entries(summary)
    .filter(([, value]) => value !== undefined && value !== '')
    .slice(0, 10)
    .map(([name, value]) => ({ type: 'mrkdwn', text: `*${name}*\n${slackText(String(value))}` }));
  const open = facts.link ? `<${facts.link}|Open the approval in VS Code>` : undefined;
  return JSON.stringify({
    text: `${slackText(text)}${open ? ` ${open}` : ''}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: slackText(slackFit(text, SLACK_SECTION_CHARS)) } },
      ...(fields.length > 0 ? [{ type: 'section', fields }] : []),
      ...(open ? [{ type: 'section', text: { type: 'mrkdwn', text: open } }] : []),
      { type: 'context', elements: [{ type: 'mrkdwn', text: `${facts.type} · delivery ${envelope.deliveryId} · broker ${envelope.broker}${truncated ? ' · cut to fit' : ''}` }] },
    ],
  });
}

/** `text` cut to at most `bytes` UTF-8 bytes, on a character boundary. */
function cutToBytes(text: string, bytes: number): string {
  const buffer = Buffer.from(text, 'utf8');
  if (buffer.length <= bytes) return text;
  let end = Math.max(0, bytes);
  // Back off a continuation byte: the cut never splits a character.
  while (end > 0 && (buffer[end]! & 0xc0) === 0x80) end--;
  return buffer.subarray(0, end).toString('utf8');
}

const render = { json: jsonBody, slack: slackBody };

/**
 * The body of one notification in the operator's format, at most BUDGETS.notifyBodyBytes: while it is longer, the
 * longest string an agent or user chose is cut by what is over (each byte cut shortens the body by at least one,
 * escaping only ever lengthens), so a megabyte of params costs a receiver one bounded body, its facts kept.
 */
export function notificationBody(facts: NotificationFacts, envelope: Envelope, format: NotifyOptions['format']): Buffer {
  const limit = BUDGETS.notifyBodyBytes.limit;
  const summary: NotificationSummary = { ...facts.summary };
  let truncated = false;
  for (const field of CHOSEN_TEXT_FIELDS) {
    const value = summary[field];
    if (value === undefined) continue;
    // No one field is longer than the whole body: cut first, so the work below (on the emitting event's turn) stays
    // bounded by the budget, not by the megabyte of params an agent sent.
    const bounded = Buffer.byteLength(value) > limit ? `${cutToBytes(value, limit)}${MARK}` : value;
    summary[field] = format === 'slack' ? slackFit(bounded, SLACK_FIELD_CHARS - field.length - 3) : bounded;
    truncated ||= summary[field] !== value;
  }
  for (let round = 0; round <= CHOSEN_TEXT_FIELDS.length * 2; round++) {
    const body = Buffer.from(render[format](facts, envelope, summary, truncated), 'utf8');
    const over = body.length - limit;
    if (over <= 0) return body;
    truncated = true;
    const longest = CHOSEN_TEXT_FIELDS.filter((f) => summary[f] !== undefined).sort((a, b) => Buffer.byteLength(summary[b]!) - Buffer.byteLength(summary[a]!))[0];
    const length = longest ? Buffer.byteLength(summary[longest]!) : 0;
    if (!longest || length <= Buffer.byteLength(MARK)) break;
    summary[longest] = `${cutToBytes(summary[longest]!, length - over - Buffer.byteLength(MARK))}${MARK}`;
  }
  throw new Error(`a ${facts.type} notification does not fit ${limit} bytes even with every chosen text cut`);
}
