// Readability of a webview as a theme paints it: every piece of text the person can see, its computed colour
// against the background actually behind it (ancestors' backgrounds composited along the flat tree, so a button's
// label sits on the box inside its shadow root; opacity applied), as a WCAG contrast ratio. A theme variable the
// panel (or a component's fallback) leaves out shows up here as text the colour of its background.
import assert from 'node:assert/strict';
import type { FrameLocator } from 'playwright-core';

export interface TextContrast {
  /** The element: tag, #id or .class, and its first words. */
  what: string;
  fg: string;
  bg: string;
  ratio: number;
}

/** What runs inside the webview (this project's tests compile without the DOM's types; the function is sent as text). */
type Rgba = [number, number, number, number];
interface Css {
  color: string;
  backgroundColor: string;
  opacity: string;
  display: string;
  visibility: string;
}
interface Node {
  nodeType: number;
  textContent: string | null;
  /** Where a host's light-DOM child is rendered: its colours are inherited from, and painted over, that slot. */
  assignedSlot: El | null;
}
interface El extends Node {
  tagName: string;
  id: string;
  className: unknown;
  value?: string;
  childNodes: ArrayLike<Node>;
  children: ArrayLike<El>;
  shadowRoot: { children: ArrayLike<El> } | null;
  parentElement: El | null;
  getRootNode(): { host?: El };
  getClientRects(): { length: number };
}
interface Win {
  getComputedStyle(e: El): Css;
}

function measure(body: El): TextContrast[] {
  const win = globalThis as unknown as Win;
  const parse = (c: string): Rgba => {
    const n = (c.match(/[\d.]+/g) ?? []).map(Number);
    return [n[0] ?? 0, n[1] ?? 0, n[2] ?? 0, n.length > 3 ? n[3]! : 1];
  };
  const over = (top: Rgba, under: Rgba): Rgba => [0, 1, 2].map((i) => top[i]! * top[3] + under[i]! * (1 - top[3])).concat(1) as Rgba;
  const luminance = (c: Rgba) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  // The parent in the flat tree: a slotted child renders inside its slot; a shadow root's top sits in its host.
  const up = (e: El): El | null => e.assignedSlot ?? e.parentElement ?? e.getRootNode().host ?? null;
  const background = (e: El): Rgba => {
    const layers: Rgba[] = [];
    for (let at: El | null = e; at; at = up(at)) {
      const c = parse(win.getComputedStyle(at).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] === 1) break;
    }
    // Nothing opaque up to the root: the frame's canvas, white.
    return layers.reverse().reduce<Rgba>((under, top) => over(top, under), [255, 255, 255, 1]);
  };
  const opacity = (e: El) => {
    let o = 1;
    for (let at: El | null = e; at; at = up(at)) o *= Number(win.getComputedStyle(at).opacity);
    return o;
  };
  const shown: TextContrast[] = [];
  const visit = (e: El) => {
    const css = win.getComputedStyle(e);
    if (css.display === 'none') return;
    const texts = Array.from(e.childNodes).filter((n) => n.nodeType === 3 && (n.textContent ?? '').trim());
    const text = texts.map((n) => n.textContent ?? '').join('').trim() || (/^(TEXTAREA|INPUT)$/.test(e.tagName) ? (e.value ?? '').trim() : '');
    if (text && css.visibility !== 'hidden' && e.getClientRects().length > 0) {
      // A custom element's own text is drawn by its slot, in the slot's colour, over the shadow's box.
      const painter = texts[0]?.assignedSlot ?? e;
      const bg = background(painter);
      const fg = parse(win.getComputedStyle(painter).color);
      const seen = over([fg[0], fg[1], fg[2], fg[3] * opacity(painter)], bg);
      const [hi, lo] = [luminance(seen), luminance(bg)].sort((a, b) => b - a);
      const name = `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : typeof e.className === 'string' && e.className ? `.${e.className.split(' ')[0]}` : ''}`;
      shown.push({ what: `${name} "${text.slice(0, 40)}"`, fg: win.getComputedStyle(painter).color, bg: `rgb(${bg.slice(0, 3).map(Math.round).join(', ')})`, ratio: Math.round(((hi! + 0.05) / (lo! + 0.05)) * 100) / 100 });
    }
    for (const child of Array.from(e.children)) visit(child);
    if (e.shadowRoot) for (const child of Array.from(e.shadowRoot.children)) visit(child);
  };
  visit(body);
  return shown;
}

/** Every visible text of the webview's document with its contrast ratio (WCAG: 4.5 for body text, 7 is AAA). */
export async function textContrast(webview: FrameLocator): Promise<TextContrast[]> {
  const body = webview.locator('body');
  // tsx (esbuild keepNames) wraps measure's inner functions in __name(fn, "name"), defined in this module, not in the page.
  await body.evaluate(() => {
    (globalThis as { __name?: unknown }).__name ??= (f: unknown) => f;
  });
  return body.evaluate(measure as unknown as (body: unknown) => TextContrast[]);
}

/**
 * Each button of the webview focused in turn, and its label's contrast then (a focused button takes another
 * background, from another theme variable). Focus is left on the last one: the caller moves it.
 */
export async function focusedButtonContrast(webview: FrameLocator): Promise<TextContrast[]> {
  const buttons = webview.locator('vscode-button');
  const seen: TextContrast[] = [];
  for (let i = 0; i < (await buttons.count()); i += 1) {
    const button = buttons.nth(i);
    if (!(await button.isVisible())) continue;
    await button.focus();
    const id = (await button.getAttribute('id')) ?? '';
    const label = (await button.innerText()).trim();
    seen.push(...(await textContrast(webview)).filter((t) => t.what.startsWith(`vscode-button${id ? `#${id}` : ''} "${label.slice(0, 40)}`)).map((t) => ({ ...t, what: `${t.what} (focused)` })));
  }
  return seen;
}

/** WCAG AA for body text; the high-contrast themes are made to pass it everywhere. */
export const READABLE = 4.5;

/**
 * Fails with the offending texts when any visible text of the webview reads below `min` against its background;
 * also when too few texts were measured to mean anything (the panel not shown yet, or the probe broken).
 */
export async function assertReadable(webview: FrameLocator, what: string, atLeast: number, min = READABLE): Promise<TextContrast[]> {
  const texts = await textContrast(webview);
  if (texts.length < atLeast) throw new Error(`only ${texts.length} visible texts measured in ${what} (expected at least ${atLeast}): ${JSON.stringify(texts)}`);
  const unreadable = texts.filter((t) => t.ratio < min);
  if (unreadable.length) throw new Error(`${what}: ${unreadable.length} of ${texts.length} texts below a ${min}:1 contrast:\n${unreadable.map((t) => `  ${t.what}: ${t.fg} on ${t.bg} = ${t.ratio}:1`).join('\n')}`);
  return texts;
}

/**
 * The check of a panel in a high-contrast theme: focus moved off its buttons (`rest` clicked), then every text at
 * rest readable; then each button focused, its label readable too.
 */
export async function highContrastCheck(webview: FrameLocator, rest: string, what: string): Promise<TextContrast[]> {
  await webview.locator(rest).first().click();
  await assertReadable(webview, what, 10);
  const focused = (await focusedButtonContrast(webview)).filter((t) => t.ratio < READABLE);
  await webview.locator(rest).first().click();
  assert.deepEqual(focused.map((t) => `${t.what}: ${t.fg} on ${t.bg} = ${t.ratio}:1`), [], `${what}: every focused button's label readable`);
  return focused;
}
