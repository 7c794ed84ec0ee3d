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

function closeButton(): HTMLElement {
  const close = custom('vscode-button', { id: 'close', 'aria-label': 'Close this approval panel' }, 'Close');
  close.addEventListener('click', () => vscode.postMessage({ type: 'close' }));
  return close;
}

/** The reviewer's view: the call and the decision first, where the eye lands; identifiers and times folded below. */
function render(state: ApprovalPanelState): void {
  current = state;
  if (saved.requestId !== state.requestId) save({ requestId: state.requestId, reason: '' });
  save({ last: state });
  if (reasonBox.value !== saved.reason && document.activeElement !== reasonBox) reasonBox.value = saved.reason;
  const call = `${state.capability} ${state.summary}`;

  const banners: Node[] = [];
  if (!state.connected) banners.push(banner('warn', 'Disconnected from the broker: this is the request as last seen, not live.'));
  if (state.error) banners.push(banner('error', state.error));
  if (state.notice) banners.push(banner('ok', state.notice));
  if (state.withdrawn) {
    banners.push(banner('warn', 'This request was withdrawn: its intent was cancelled by its requester or an admin, so the call never runs. Nothing waits for a decision.'));
  } else if (state.state !== 'pending') {
    // The name carries its fingerprint; the DID itself is in the details below, not in a line it would overflow.
    const who = state.decidedBy ? ` by ${state.decidedBy.name}` : '';
    const when = state.decidedAt ? ` at ${time(state.decidedAt)}` : '';
    const why = state.decisionReason ? ` — “${state.decisionReason}”` : '';
    banners.push(banner(state.state === 'approved' ? 'ok' : 'warn', `This request was ${state.state}${who}${when}${why}.`));
  }
  if (state.selfReview) banners.push(banner('info', "Self-review of a model's call: a model chose this call inside the requester's task, and its rule lets the requester review it (audited as self-review)."));
  const withdrawHint = state.canWithdraw ? ' You may withdraw it instead (Withdraw request cancels its intent).' : '';
  if (state.cannotDecide && state.state === 'pending') banners.push(banner('info', `${state.cannotDecide}${withdrawHint}`));

  const params: Node[] = state.params.map((p) =>
    el('div', { class: 'param' }, el('div', { class: 'param-name' }, p.name), p.multiline ? el('pre', { tabindex: '0', 'aria-label': `parameter ${p.name}` }, p.text) : el('code', {}, p.text)),
  );

  const approve = custom('vscode-button', { id: 'approve', 'aria-keyshortcuts': 'Control+Enter', 'aria-label': `Approve ${call}` }, 'Approve');
  const reject = custom('vscode-button', { id: 'reject', secondary: '', 'aria-label': `Reject ${call}` }, 'Reject');
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

  // The requester (or an admin) is never left waiting for the timeout of a request nobody else may decide.
  const withdraw = state.canWithdraw
    ? custom('vscode-button', { id: 'withdraw', secondary: '', 'aria-label': `Withdraw request: cancel ${call}` }, 'Withdraw request')
    : null;
  if (withdraw && state.busy) withdraw.setAttribute('disabled', '');
  withdraw?.addEventListener('click', () => {
    if (current?.canWithdraw && !current.busy) vscode.postMessage({ type: 'withdraw' });
  });

  const diff = custom('vscode-button', { id: 'open-diff', secondary: '' }, 'Open Diff: Current ↔ Proposed');
  diff.addEventListener('click', () => vscode.postMessage({ type: 'openDiff' }));

  // Rendering replaces the nodes; whoever was on a button by keyboard stays on it, and an open details stays open.
  const focused = document.activeElement instanceof HTMLElement && document.activeElement !== reasonBox ? document.activeElement.id : '';
  const detailsOpen = (document.getElementById('details') as HTMLDetailsElement | null)?.open ?? false;
  const details = el(
    'details',
    { id: 'details' },
    el('summary', {}, 'Identifiers and times (DIDs, intent and request ids)'),
    el(
      'dl',
      {},
      ...row('Agent', `${state.agent.name} `, el('code', {}, state.agent.did)),
      ...row('Requested by', `${state.requester.name} `, el('code', {}, state.requester.did)),
      ...state.quorum.approvedBy.flatMap((p, i) => row(`Approval ${i + 1}`, `${p.name} `, el('code', {}, p.did))),
      ...(state.decidedBy ? row(`${state.state[0]!.toUpperCase()}${state.state.slice(1)} by`, `${state.decidedBy.name} `, el('code', {}, state.decidedBy.did)) : []),
      ...row('Intent', el('code', {}, state.intentId)),
      ...row('Request', el('code', {}, state.requestId)),
      ...row('Requested at', time(state.requestedAt)),
      ...row('Times out at', time(state.expiresAt)),
      ...row('Reviewer', `${state.reviewer.name} (${state.reviewer.role}) `, el('code', {}, state.reviewer.did)),
    ),
  );
  if (detailsOpen) details.setAttribute('open', '');
  app.replaceChildren(
    el('h1', { id: 'call' }, call),
    el('p', { class: 'sub' }, 'on ', el('strong', {}, state.agent.name), ' · asked by ', el('strong', {}, state.requester.name), ' · ', el('span', { class: 'state' }, state.withdrawn ? 'withdrawn' : state.state)),
    ...(state.localOperator ? [el('p', { class: 'sub', id: 'local-operator' }, state.localOperator)] : []),
    el(
      'dl',
      { id: 'summary' },
      ...row('Where', `${state.agent.name}, in `, el('code', {}, state.cwd)),
      ...(state.modelCall ? row('Chosen by', "the task's model, not typed by the requester") : []),
      ...(state.origin ? row('Dispatched by', `a model: ${state.origin}, with the requester's key`) : []),
      ...row('Asked by the rule', state.rule ? el('code', {}, state.rule) : 'no rule (the policy names this tool as needing approval)'),
      ...row('Approvals', el('span', { id: 'quorum' }, quorumText(state))),
      ...row('Requested', since(state.requestedAt)),
      ...(state.state === 'pending' ? row('Times out', since(state.expiresAt), '; a timeout rejects the call') : []),
    ),
    ...banners,
    el(
      'div',
      { class: 'actions', role: 'group', 'aria-label': 'Decision' },
      ...(state.state === 'pending' ? [approve, reject, ...(withdraw ? [withdraw] : [])] : [closeButton()]),
      el('span', { class: 'keys' }, state.busy ? 'Sending…' : state.state === 'pending' ? 'Ctrl+Enter in the reason box approves' : ''),
    ),
    ...(state.state === 'pending' ? [el('label', { for: 'reason' }, 'Reason (optional)'), reasonBox] : []),
    ...(allow && state.allowCall && state.state === 'pending' ? [el('div', { class: 'actions' }, allow), el('p', { class: 'keys' }, `As an admin you may also add the exact rule ${state.allowCall.rule} to this agent's policy (first in its list; it is re-issued to the agent).`)] : []),
    el('p', { class: 'sub', id: 'signer' }, `You review as ${state.reviewer.name} (${state.reviewer.role}); your decision is signed with your own key.`),
    el('h2', {}, 'Parameters (in full)'),
    ...(state.canDiff ? [el('div', { class: 'actions' }, diff)] : []),
    ...params,
    details,
  );
  if (focused) document.getElementById(focused)?.focus();
}

/** No live state: the broker is not connected yet, or no longer holds this request. Said plainly, with Close. */
function renderUnavailable(message: { requestId: string; message: string; final: boolean }): void {
  current = null;
  const last = saved.last && saved.last.requestId === message.requestId ? saved.last : null;
  app.replaceChildren(
    el('h1', { id: 'call' }, last ? `${last.capability} ${last.summary}` : 'Approval request'),
    banner(message.final ? 'warn' : 'info', message.message),
    ...(last ? [el('p', { class: 'sub' }, `As last seen here: on ${last.agent.name}, asked by ${last.requester.name}, ${last.state}.`)] : []),
    el('div', { class: 'actions', role: 'group', 'aria-label': 'Panel' }, closeButton()),
  );
  document.getElementById('close')?.focus();
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const message = ExtensionToWebview.safeParse(event.data);
  if (!message.success) return;
  if (message.data.type === 'state') render(message.data.state);
  else renderUnavailable(message.data);
});

// Restore what was on screen while the extension answers, then ask for the live state.
if (saved.last) render({ ...saved.last, busy: false, notice: null, error: null, cannotDecide: 'Waiting for the extension to send the live state of this request…', canWithdraw: false });
vscode.postMessage({ type: 'ready' });
