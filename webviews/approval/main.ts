import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import { visibleText } from '../../core/text/untrusted-text';
import * as z from 'zod/mini';
import { ApprovalWebviewState, ExtensionToWebview, type ApprovalPanelState, type WebviewToExtension } from '../../core/webview/approval-messages';

interface VsCodeApi {
  postMessage(message: WebviewToExtension): void;
  getState(): unknown;
  setState(state: ApprovalWebviewState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

// The webview's CSP allows no eval: zod must not try its compiled fast path (which would only report a violation).
z.config({ jitless: true });

const vscode = acquireVsCodeApi();
// Saved by this webview, perhaps by an older version of it: a state that does not parse is started afresh.
const saved: ApprovalWebviewState = ApprovalWebviewState.safeParse(vscode.getState()).data ?? { requestId: null, reason: '', last: null };
const app = document.getElementById('app')!;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  // Text only: every value from the request is untrusted and goes in as text, never as markup, with
  // invisible and reordering characters (U+202E…) shown as ⟨U+XXXX⟩ (idempotent, so the extension's own pass is harmless).
  for (const child of children) node.append(typeof child === 'string' ? visibleText(child, { lineBreaks: true }) : child);
  return node;
}

function custom(tag: string, attrs: Record<string, string> = {}, text = ''): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

const time = (ms: number) => new Date(ms).toLocaleString();

function relative(ms: number): string {
  const d = Math.round((ms - Date.now()) / 1000);
  const abs = Math.abs(d);
  const span = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : `${Math.round(abs / 3600)} h`;
  return d >= 0 ? `in ${span}` : `${span} ago`;
}

/** A relative time that stays true while the panel is open: the ticker below rewrites it every second. */
function since(ms: number): HTMLElement {
  return el('span', { 'data-relative-to': String(ms) }, relative(ms));
}

// A display clock only (no broker polling): "2 s ago" keeps counting while the request waits.
setInterval(() => {
  document.querySelectorAll<HTMLElement>('[data-relative-to]').forEach((node) => (node.textContent = relative(Number(node.dataset.relativeTo))));
}, 1000);

function save(patch: Partial<ApprovalWebviewState>): void {
  Object.assign(saved, patch);
  vscode.setState(saved);
}

// The reason box is created once and kept across renders, so typing (and focus) survive state updates.
const reasonBox = custom('vscode-textarea', { id: 'reason', rows: '3', placeholder: 'Optional: why (the requester and the audit log see it)', 'aria-label': 'Reason for the decision' }) as HTMLElement & { value: string };
reasonBox.addEventListener('input', () => save({ reason: reasonBox.value }));
reasonBox.addEventListener('keydown', (e: KeyboardEvent) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    decide('approve');
  }
});

let current: ApprovalPanelState | null = null;

function decide(decision: 'approve' | 'reject' | 'approveAndAllow'): void {
  if (!current || current.cannotDecide || current.busy) return;
  const reason = reasonBox.value ?? '';
  vscode.postMessage(decision === 'approveAndAllow' ? { type: 'approveAndAllow', reason } : { type: 'decide', decision, reason });
}

/** "1 of 2 approvals (alice)": how far the two-person rule (or more) has come, and who approved. */
function quorumText(state: ApprovalPanelState): string {
  const { required, approvedBy } = state.quorum;
  const who = approvedBy.length ? ` — approved by ${approvedBy.map((p) => p.name).join(', ')}` : '';
  return `${approvedBy.length} of ${required} approval${required === 1 ? '' : 's'}${who}`;
}

function banner(kind: 'error' | 'warn' | 'ok' | 'info', text: string): HTMLElement {
  return el('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

function row(term: string, ...value: (Node | string)[]): Node[] {
  return [el('dt', {}, term), el('dd', {}, ...value)];
}

function render(state: ApprovalPanelState): void {
  current = state;
  if (saved.requestId !== state.requestId) save({ requestId: state.requestId, reason: '' });
  save({ last: state });
  if (reasonBox.value !== saved.reason && document.activeElement !== reasonBox) reasonBox.value = saved.reason;

  const banners: Node[] = [];
  if (!state.connected) banners.push(banner('warn', 'Disconnected from the broker: this is the request as last seen, not live.'));
  if (state.error) banners.push(banner('error', state.error));
  if (state.notice) banners.push(banner('ok', state.notice));
  if (state.state !== 'pending') {
    const who = state.decidedBy ? ` by ${state.decidedBy.name} (${state.decidedBy.did})` : '';
    const when = state.decidedAt ? ` at ${time(state.decidedAt)}` : '';
    const why = state.decisionReason ? ` — “${state.decisionReason}”` : '';
    banners.push(banner(state.state === 'approved' ? 'ok' : 'warn', `This request was ${state.state}${who}${when}${why}.`));
  }

  const params: Node[] = state.params.map((p) =>
    el('div', { class: 'param' }, el('div', { class: 'param-name' }, p.name), p.multiline ? el('pre', { tabindex: '0', 'aria-label': `parameter ${p.name}` }, p.text) : el('code', {}, p.text)),
  );

  const approve = custom('vscode-button', { id: 'approve', 'aria-keyshortcuts': 'Control+Enter' }, 'Approve');
  const reject = custom('vscode-button', { id: 'reject', secondary: '' }, 'Reject');
  const disabled = Boolean(state.cannotDecide) || state.busy;
  for (const b of [approve, reject]) if (disabled) b.setAttribute('disabled', '');
  approve.addEventListener('click', () => decide('approve'));
  reject.addEventListener('click', () => decide('reject'));
  // Admins only (the extension sends allowCall null to anyone else, and refuses the message from them anyway).
  const allow = state.allowCall ? custom('vscode-button', { id: 'approve-allow', secondary: '' }, `Approve and allow ${state.allowCall.call} on this agent from now on`) : null;
  if (allow && disabled) allow.setAttribute('disabled', '');
  allow?.addEventListener('click', () => decide('approveAndAllow'));
  if (disabled) reasonBox.setAttribute('disabled', '');
  else reasonBox.removeAttribute('disabled');

  const diff = custom('vscode-button', { id: 'open-diff', secondary: '' }, 'Open Diff: Current ↔ Proposed');
  diff.addEventListener('click', () => vscode.postMessage({ type: 'openDiff' }));

  // Rendering replaces the nodes; whoever was on a button by keyboard stays on it.
  const focused = document.activeElement instanceof HTMLElement && document.activeElement !== reasonBox ? document.activeElement.id : '';
  app.replaceChildren(
    el('h1', {}, `${state.capability} ${state.summary}`),
    el('p', { class: 'sub' }, 'on ', el('strong', {}, state.agent.name), ' · asked by ', el('strong', {}, state.requester.name), ' · ', el('span', { class: 'state' }, state.state)),
    el('p', { id: 'quorum' }, quorumText(state)),
    ...(state.selfReview ? [banner('info', "Self-review of a model's call: a model chose this call inside the requester's task, and its rule lets the requester review it (audited as self-review).")] : []),
    ...banners,
    el('h2', {}, 'Request'),
    el(
      'dl',
      {},
      ...row('Agent', `${state.agent.name} `, el('code', {}, state.agent.did)),
      ...row('Requested by', `${state.requester.name} `, el('code', {}, state.requester.did)),
      ...row('Tool', el('code', {}, state.capability)),
      ...row('Asked by the rule', state.rule ? el('code', {}, state.rule) : 'no rule (the policy names this tool as needing approval)'),
      ...row('Approvals', quorumText(state)),
      ...(state.modelCall ? row('Chosen by', "the task's model, not typed by the requester") : []),
      ...row('Intent', el('code', {}, state.intentId)),
      ...row('Request', el('code', {}, state.requestId)),
      ...row('Working directory', el('code', {}, state.cwd)),
      ...row('Requested', `${time(state.requestedAt)} (`, since(state.requestedAt), ')'),
      ...row('Times out', `${time(state.expiresAt)} (`, since(state.expiresAt), '); a timeout rejects the call'),
    ),
    el('h2', {}, 'Parameters (in full)'),
    ...params,
    ...(state.canDiff ? [el('div', { class: 'actions' }, diff)] : []),
    el('h2', {}, 'Decision'),
    el('p', { class: 'sub' }, `You review as ${state.reviewer.name} (${state.reviewer.role}); your decision is signed with your own key.`),
    ...(state.cannotDecide ? [banner('info', state.cannotDecide)] : []),
    el('label', { for: 'reason' }, 'Reason (optional)'),
    reasonBox,
    el('div', { class: 'actions' }, approve, reject, el('span', { class: 'keys' }, state.busy ? 'Sending…' : 'Ctrl+Enter in the reason box approves')),
    ...(allow && state.allowCall ? [el('div', { class: 'actions' }, allow), el('p', { class: 'keys' }, `As an admin you may also add the exact rule ${state.allowCall.rule} to this agent's policy (first in its list; it is re-issued to the agent).`)] : []),
  );
  if (focused) document.getElementById(focused)?.focus();
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const message = ExtensionToWebview.safeParse(event.data);
  if (message.success) render(message.data.state);
});

// Restore what was on screen while the extension answers, then ask for the live state.
if (saved.last) render({ ...saved.last, busy: false, notice: null, error: null, cannotDecide: 'Waiting for the extension to send the live state of this request…' });
vscode.postMessage({ type: 'ready' });
