import '@vscode-elements/elements/dist/vscode-button/index.js';
import * as z from 'zod/mini';
import { visibleText } from '../../core/text/untrusted-text';
import { relativeTime } from '../../core/webview/relative-time';
import { ExtensionToWebview, type ResultBody, type ResultView, type ResultWebviewState, type TimeText, type Verdict, type WebviewToExtension } from '../../core/webview/result-messages';

interface VsCodeApi {
  postMessage(message: WebviewToExtension): void;
  setState(state: ResultWebviewState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

// The webview's CSP allows no eval: zod must not try its compiled fast path.
z.config({ jitless: true });

const vscode = acquireVsCodeApi();
const app = document.getElementById('app')!;

type Child = Node | string | null;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  // Text only: every value is the agent's or the broker's, put in as text, never markup, with invisible and
  // reordering characters (U+202E…) shown as ⟨U+XXXX⟩.
  for (const child of children) if (child !== null) node.append(typeof child === 'string' ? visibleText(child, { lineBreaks: true }) : child);
  return node;
}

function button(label: string, ariaLabel: string, onClick: () => void, options: { disabled?: boolean; secondary?: boolean } = {}): HTMLElement {
  const b = document.createElement('vscode-button');
  b.textContent = label;
  b.setAttribute('aria-label', ariaLabel);
  if (options.secondary) b.setAttribute('secondary', '');
  if (options.disabled) b.setAttribute('disabled', '');
  b.addEventListener('click', () => {
    if (!b.hasAttribute('disabled')) onClick();
  });
  return b;
}

let locale = 'en';

/** "2 minutes ago", with the local date and time in its tooltip; the ticker below keeps the text true. */
function time(t: TimeText): HTMLElement {
  return el('time', { datetime: new Date(t.at).toISOString(), title: t.local, 'data-at': String(t.at) }, `${t.relative} (${t.local})`);
}

// A display clock only (no broker polling): the relative part of each time is rewritten, nothing else.
setInterval(() => {
  for (const node of document.querySelectorAll<HTMLElement>('[data-at]')) {
    node.textContent = `${relativeTime(Number(node.dataset.at), Date.now(), locale)} (${node.title})`;
  }
}, 15_000);

/** A block of output as text: monospace, wrapped, focusable so the keyboard can scroll it. */
function output(id: string, label: string, text: string, className = ''): HTMLElement {
  if (!text) return el('p', { class: 'empty', id }, `No ${label}.`);
  return el('pre', { id, class: className, tabindex: '0', role: 'region', 'aria-label': label }, text);
}

function notes(list: readonly string[]): HTMLElement | null {
  return list.length ? el('ul', { class: 'notes' }, ...list.map((n) => el('li', {}, n))) : null;
}

function renderBody(body: ResultBody, live: boolean): HTMLElement {
  switch (body.kind) {
    case 'none':
      return el('p', { class: 'empty' }, body.text);
    case 'file':
      return el(
        'section',
        { 'aria-label': 'File content' },
        el('dl', {}, el('dt', {}, 'Path'), el('dd', { class: 'mono' }, body.path), el('dt', {}, 'Size'), el('dd', {}, `${body.size}, ${body.lineCount} line${body.lineCount === 1 ? '' : 's'}${body.truncated ? ' (cut: the agent returns the beginning of a large file)' : ''}`)),
        el('div', { class: 'actions' }, button('Open as Document', 'Open the file content as a read-only document with its language mode', () => vscode.postMessage({ type: 'openDocument' }))),
        output('content', 'file content', body.content),
      );
    case 'listing': {
      const table = el(
        'table',
        { 'aria-label': `Entries of ${body.path}` },
        el('caption', {}, `${body.rows.length} entr${body.rows.length === 1 ? 'y' : 'ies'} in ${body.path}${body.truncated ? ' (cut: more entries than the agent lists)' : ''}`),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Name'), el('th', { scope: 'col' }, 'Type'), el('th', { scope: 'col', class: 'size' }, 'Size'))),
        el('tbody', {}, ...body.rows.map((r) => el('tr', {}, el('td', { class: 'mono' }, r.name), el('td', {}, r.type), el('td', { class: 'size' }, r.size)))),
      );
      return el('section', { 'aria-label': 'Directory listing' }, table);
    }
    case 'command':
      return el(
        'section',
        { 'aria-label': 'Command output' },
        el(
          'dl',
          {},
          el('dt', {}, 'Command'),
          el('dd', { class: 'mono' }, body.commandLine),
          el('dt', {}, 'In'),
          el('dd', { class: 'mono' }, body.cwd),
          el('dt', {}, 'Exit'),
          el('dd', { id: 'exit' }, body.exit ?? (live ? 'still running…' : 'unknown')),
          el('dt', {}, 'Duration'),
          el('dd', { id: 'duration' }, body.duration ?? (live ? 'still running…' : 'unknown')),
        ),
        notes(body.notes),
        el('h2', {}, 'stdout'),
        output('stdout', 'standard output', body.stdout),
        el('h2', {}, 'stderr'),
        output('stderr', 'standard error', body.stderr, 'stderr'),
      );
    case 'write':
      return el('section', { 'aria-label': 'Write' }, el('dl', {}, el('dt', {}, 'Path'), el('dd', { class: 'mono' }, body.path), el('dt', {}, 'Written'), el('dd', {}, body.size), el('dt', {}, 'Mode'), el('dd', {}, body.mode)));
    case 'http':
      return el(
        'section',
        { 'aria-label': 'HTTP response' },
        el('dl', {}, el('dt', {}, 'Request'), el('dd', { class: 'mono' }, body.request), el('dt', {}, 'Status'), el('dd', {}, body.status)),
        notes(body.notes),
        el('h2', {}, 'Headers'),
        body.headers.length
          ? el('table', { 'aria-label': 'Response headers' }, el('tbody', {}, ...body.headers.map((h) => el('tr', {}, el('th', { scope: 'row', class: 'mono' }, h.name), el('td', { class: 'mono' }, h.value)))))
          : el('p', { class: 'empty' }, 'No headers kept.'),
        el('h2', {}, 'Body'),
        output('body', 'response body', body.body),
      );
    case 'task':
      return el(
        'section',
        { 'aria-label': 'Task steps' },
        el('dl', {}, el('dt', {}, 'Instruction'), el('dd', {}, body.instruction)),
        notes(body.notes),
        ...body.steps.map((s) =>
          el(
            'section',
            { class: 'step', 'aria-label': `Step ${s.step}` },
            el('h2', {}, `Step ${s.step}${s.tokens !== null ? ` · ${s.tokens} tokens` : ''}`),
            ...s.texts.map((t) => el('pre', { tabindex: '0', 'aria-label': `The model's words, step ${s.step}` }, t)),
            ...s.calls.map((c) =>
              el(
                'div',
                { class: 'call' },
                el('strong', {}, c.tool),
                ' ',
                el('code', {}, c.args),
                ` → ${c.result}`,
                c.approvedBy.length ? ` (approved by ${c.approvedBy.join(', ')})` : '',
              ),
            ),
          ),
        ),
        body.steps.length === 0 ? el('p', { class: 'empty' }, live ? 'Waiting for the first step…' : 'No steps were seen.') : null,
        body.finalText !== null ? el('h2', {}, 'Answer') : null,
        body.finalText !== null ? output('answer', "the model's answer", body.finalText) : null,
      );
    case 'raw':
      return el('section', { 'aria-label': 'Output' }, el('p', { class: 'sub' }, 'The output, as the agent signed it:'), output('raw', 'output', body.text));
  }
}

function verdict(title: string, v: Verdict): HTMLElement {
  return el('div', { class: `banner ${v.holds ? 'ok' : 'error'}`, role: 'status' }, el('strong', {}, `${title}: ${v.holds ? 'holds' : 'does not hold'}. `), v.sentence);
}

function render(view: ResultView): void {
  locale = view.locale;
  vscode.setState({ intentId: view.intentId });
  // A live command re-renders as it prints: keep where the reader scrolled and what has focus.
  const scrolls = new Map<string, { top: number; atEnd: boolean }>();
  for (const pre of app.querySelectorAll('pre[id]')) scrolls.set(pre.id, { top: pre.scrollTop, atEnd: pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4 });
  const focused = document.activeElement?.getAttribute('aria-label');
  const pageY = window.scrollY;

  const anySigned = view.signed.intent || view.signed.result;
  const parts: Child[] = [
    el('h1', {}, view.title),
    el(
      'p',
      { class: 'sub', role: 'status' },
      el('span', { class: 'state' }, view.live ? `${view.state}…` : view.state),
      ` · on ${view.agent.name} · asked by ${view.requester.name}${view.origin ? ` · dispatched by a model (${view.origin})` : ''} · started `,
      time(view.created),
      view.live ? null : ' · ended ',
      view.live ? null : time(view.updated),
    ),
    view.problem ? el('div', { class: 'banner error', role: 'alert' }, view.problem) : null,
    el(
      'div',
      { class: 'actions' },
      button('Show Signed Envelope', 'Show the signed intent and result envelopes, decoded', () => vscode.postMessage({ type: 'showEnvelope' }), { disabled: !anySigned, secondary: true }),
      button('Verify', 'Verify both signatures again here, offline', () => vscode.postMessage({ type: 'verify' }), { disabled: !anySigned, secondary: true }),
    ),
    view.verification ? verdict('Signed intent', view.verification.intent) : null,
    view.verification ? verdict('Signed result', view.verification.result) : null,
    renderBody(view.body, view.live),
    view.omitted.length ? el('p', { class: 'sub' }, `Left out by the broker for size: ${view.omitted.join(', ')}.`) : null,
  ];
  app.replaceChildren(...parts.filter((p): p is Node | string => p !== null));
  app.setAttribute('aria-busy', view.live ? 'true' : 'false');

  for (const [id, s] of scrolls) {
    const pre = document.getElementById(id);
    if (pre) pre.scrollTop = s.atEnd ? pre.scrollHeight : s.top;
  }
  window.scrollTo(0, pageY);
  if (focused) app.querySelector<HTMLElement>(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const message = ExtensionToWebview.safeParse(event.data);
  if (!message.success) return;
  if (message.data.type === 'view') render(message.data.view);
  else {
    app.replaceChildren(el('p', { class: 'banner', role: 'status' }, message.data.text));
    app.setAttribute('aria-busy', 'false');
  }
});

vscode.postMessage({ type: 'ready' });
