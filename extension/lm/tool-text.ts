import { BUDGETS } from '../../core/budgets';
import type { IntentDetail } from '../../core/rpc/views';
import type { ResultBody } from '../../core/webview/result-messages';
import type { RejectionReason } from '../../core/wire/intent';
import { problemSentence } from '../../core/rpc/intent-problem';
import { resultView, type ProgressEntry } from '../results/result-view-model';

/**
 * What the language model tools hand the editor's model, as text it can read: a result, a refusal with its reason
 * and what to do about it, or why nothing was sent. Pure, so its words are tested without an editor.
 */

/**
 * The text cut to BUDGETS.lmToolResultBytes of UTF-8 (never inside a character), saying that it was cut: an agent
 * decides how much a file or a command prints, and the model's context is not the place to find out.
 */
export function boundText(text: string): string {
  const limit = BUDGETS.lmToolResultBytes.limit;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  const note = `\n[cut: the whole text is ${bytes.length} bytes; this tool returns at most ${limit}. The result view in the editor shows all of it.]`;
  let end = limit - Buffer.byteLength(note, 'utf8');
  // Back to the first byte of a character: a continuation byte is 10xxxxxx.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString('utf8')}${note}`;
}

/** What the model should do after a refusal, by its reason: the model reads it, so it names a way forward or says to stop. */
export function refusalHint(reason: RejectionReason | null | undefined): string {
  switch (reason) {
    case 'approval-required':
    case 'approval-expired':
      return 'This call needs a reviewer other than you (the user who dispatched it); ask the user to have it reviewed, then try again.';
    case 'approval-rejected':
      return 'A reviewer rejected this call: do not retry it unchanged; ask the user.';
    case 'capability-not-granted':
    case 'not-approved':
    case 'policy-expired':
    case 'rule-denied':
    case 'delegation-missing':
    case 'delegation-invalid':
    case 'delegation-wrong-user':
    case 'delegation-wrong-agent':
    case 'delegation-capability':
    case 'delegation-expired':
    case 'delegation-revoked':
      return "The signed policy does not allow this for this user on this agent: do not try to get around it; ask the user (an admin can change the agent's policy or the user's grants).";
    case 'path-escape':
      return "Use a path relative to the agent's workspace, inside it.";
    case 'bad-params':
      return 'Fix the parameters (see the tool\'s input schema) and try again.';
    case 'destination-refused':
      return "The host is not among the agent's allowed domains; ask the user.";
    case 'agent-offline':
    case 'agent-busy':
      return 'The agent is not reachable now: try again later, or pick another agent from vaultysclaw_listAgents.';
    case 'rate-limited':
    case 'token-budget-exhausted':
      return "The agent's budget is used up for now: try again later, or ask the user.";
    default:
      return 'Ask the user before trying another way.';
  }
}

/** "Refused: <sentence> (<reason>)" and the hint, for a refusal the model must read, not an exception. */
export function refusalText(sentence: string, reason: string | null | undefined, hint: string): string {
  const words = sentence.trim().replace(/[.]$/, '');
  return `Refused: ${words}${reason ? ` (${reason})` : ''}.\n${hint}`;
}

export interface ResultContext {
  agentName: string;
  /** The intent's progress as it streamed (a command's output before it ended, a task's steps). */
  progress: readonly ProgressEntry[];
  progressDropped?: boolean;
  nameOf: (did: string) => string | undefined;
  now: number;
}

/**
 * The text of a final intent for the model: its outcome, then its result (file text, listing, stdout/stderr and
 * exit code, task steps), then the line naming the remote agent it came from. Bounded by boundText.
 */
export function intentResultText(intent: IntentDetail, c: ResultContext): string {
  const from = `Result from the remote agent ${c.agentName} (${intent.agent}), intent ${intent.id}, signed by that agent; it ran on that build machine, not in this editor's workspace.`;
  if (intent.state === 'rejected') {
    const sentence = intent.message?.trim() || problemSentence(intent) || 'no reason given';
    const by = intent.rejectedBy === 'agent' ? 'the agent refused it' : 'the broker refused to send it';
    return boundText(`${refusalText(`${by}: ${sentence}`, intent.reason, refusalHint(intent.reason))}\n${from}`);
  }
  if (intent.state === 'cancelled') return boundText(`Cancelled: the intent was cancelled before it finished; nothing more will run.\n${from}`);
  const view = resultView({ intent, progress: c.progress, approvals: [], nameOf: c.nameOf, now: c.now, locale: 'en', progressDropped: c.progressDropped ?? false });
  const head = intent.state === 'succeeded' ? `${view.title}: succeeded.` : `${view.title}: ${view.problem ?? intent.state}`;
  return boundText([head, '', bodyText(view.body), '', from].join('\n'));
}

/** One result body as plain text, the shapes the result view knows. */
export function bodyText(body: ResultBody): string {
  switch (body.kind) {
    case 'none':
      return body.text;
    case 'raw':
      return body.text;
    case 'file':
      return [`File ${body.path} (${body.size}, ${body.lineCount} lines${body.truncated ? ', cut by the agent' : ''}):`, body.content].join('\n');
    case 'listing':
      return [`Entries of ${body.path}${body.truncated ? ' (cut by the agent)' : ''}:`, ...body.rows.map((r) => `${r.type === 'directory' ? `${r.name}/` : r.name}${r.size ? ` (${r.size})` : ''}${r.type !== 'file' && r.type !== 'directory' ? ` [${r.type}]` : ''}`)].join('\n');
    case 'command':
      return [
        `$ ${body.commandLine}   (in ${body.cwd || '.'})`,
        `${body.exit ?? 'still running'}${body.duration ? `, after ${body.duration}` : ''}`,
        ...body.notes,
        'stdout:',
        body.stdout || '(empty)',
        'stderr:',
        body.stderr || '(empty)',
      ].join('\n');
    case 'write':
      return `Wrote ${body.path}: ${body.size}, ${body.mode}.`;
    case 'http':
      return [`${body.request} → HTTP ${body.status}`, ...body.notes, ...body.headers.map((h) => `${h.name}: ${h.value}`), '', body.body].join('\n');
    case 'task':
      return [
        `Task: ${body.instruction}`,
        ...body.steps.flatMap((s) => [`Step ${s.step}:`, ...s.texts.map((t) => `  ${t}`), ...s.calls.map((call) => `  tool ${call.tool} ${call.args} → ${call.result}${call.approvedBy.length ? ` (approved by ${call.approvedBy.join(', ')})` : ''}`)]),
        ...body.notes,
        `Answer: ${body.finalText ?? '(none)'}`,
      ].join('\n');
  }
}

/** Nothing can be sent without the user's own broker session: say so and how the user connects. */
export function notConnectedText(why: string): string {
  return `Not sent: VaultysClaw is not connected to a broker (${why.replace(/\.$/, '')}), so nothing was signed or sent. Ask the user to connect: "VaultysClaw: Restart Broker" for the local broker, or "VaultysClaw: Join Broker" for a team broker; then try again.`;
}
