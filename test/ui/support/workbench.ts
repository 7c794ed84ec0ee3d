// What the UI tests share: the .vsix under test, bounded waits on what the screen shows, and the workbench as a
// person uses it (../shared/design/testing.md, layer 3).
import { join } from 'node:path';
import { type FrameLocator, type Locator, type Page } from 'playwright-core';
import { ensureBuilt, run } from '../../support/code-server';
import { ROOT, waitFor } from '../../support/processes';

export const STEP_MS = 30_000;

/**
 * The .vsix under test, packaged from dist/ as it is (a dev build, source maps left out by .vscodeignore).
 * `npm run package` is not used: its minified rebuild would rewrite dist/ under the other test files.
 */
export function packageVsix(into: string): string {
  ensureBuilt(['broker.js', 'agent.js', 'extension.js', join('webviews', 'approval.js')], ['core', 'broker', 'agent', 'extension', 'webviews']);
  const vsix = join(into, 'vaultysclaw.vsix');
  run(process.execPath, [join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-rewrite-relative-links', '--skip-license', '--allow-missing-repository', '--out', vsix], {
    timeoutMs: 120_000,
  });
  return vsix;
}

/** Bounded polling of what a locator shows. */
export async function textOf(locator: Locator): Promise<string> {
  return ((await locator.innerText().catch(() => '')) ?? '').replace(/\u00a0/g, ' ');
}

export async function waitText(what: string, locator: Locator, pattern: RegExp, timeoutMs = STEP_MS): Promise<string> {
  let last = '';
  try {
    return await waitFor(what, async () => {
      last = await textOf(locator);
      return pattern.test(last) ? last : undefined;
    }, timeoutMs, 200);
  } catch {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${pattern}); it showed:\n${last.slice(0, 1500) || '(nothing)'}`);
  }
}

/** The workbench, as a person uses it. */
export class Workbench {
  constructor(readonly page: Page) {}

  pane(title: string): Locator {
    return this.page.locator('.pane', { has: this.page.locator(`.pane-header[aria-label="${title} Section"]`) });
  }

  row(pane: string, text: string | RegExp): Locator {
    return this.pane(pane).locator('.monaco-list-row', { hasText: text });
  }

  /** Clicks a tree row, after moving the mouse off any row whose hover tooltip could cover it. */
  async clickRow(pane: string, text: string, button: 'left' | 'right' = 'left'): Promise<void> {
    await this.page.mouse.move(900, 880);
    await this.page.locator('.workbench-hover, .monaco-hover').filter({ visible: true }).first().waitFor({ state: 'hidden', timeout: 5000 }).catch(() => undefined);
    await this.row(pane, text).click({ button });
  }

  get statusItem(): Locator {
    return this.page.locator('[id="vaultysclaw.vaultysclaw.vaultysclaw.status"]');
  }

  async statusLabel(): Promise<string> {
    return (await this.statusItem.getAttribute('aria-label').catch(() => null)) ?? '';
  }

  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  get quickInputBox(): Locator {
    return this.quickInput.locator('.quick-input-box input');
  }

  /** Waits until the quick input shows this title (each picker of a flow has its own). */
  async picker(title: string | RegExp): Promise<void> {
    await this.quickInput.locator('.quick-input-title', { hasText: title }).waitFor({ state: 'visible', timeout: STEP_MS });
  }

  /** Types into the open quick pick / input box and accepts. */
  async answer(text: string | null): Promise<void> {
    if (text !== null) await this.quickInputBox.fill(text);
    await this.quickInputBox.press('Enter');
  }

  /** Picks the row of the open quick pick that shows this text (typed as a filter first). */
  async choose(label: string): Promise<void> {
    await this.quickInputBox.fill(label);
    await this.quickInput.locator('.monaco-list-row.focused', { hasText: label }).waitFor({ state: 'visible', timeout: STEP_MS });
    await this.quickInputBox.press('Enter');
  }

  /** Runs an entry of the open context menu: hovered (which focuses it), then Enter (a click right after opening is ignored). */
  async menuItem(label: string): Promise<void> {
    const item = this.page.locator('.monaco-menu .action-item', { hasText: label });
    await item.hover();
    await this.page.locator('.monaco-menu .action-item.focused', { hasText: label }).waitFor({ state: 'visible', timeout: STEP_MS });
    await this.page.keyboard.press('Enter');
  }

  /** F1, the command's title, Enter. */
  async command(title: string): Promise<void> {
    await this.page.keyboard.press('Escape');
    await this.page.keyboard.press('F1');
    await this.quickInputBox.waitFor({ state: 'visible', timeout: STEP_MS });
    await this.quickInputBox.fill(`>${title}`);
    await this.quickInput.locator('.monaco-list-row.focused', { hasText: title }).waitFor({ state: 'visible', timeout: STEP_MS });
    await this.quickInputBox.press('Enter');
  }

  async notification(pattern: RegExp): Promise<string> {
    return waitText(`a notification ${pattern}`, this.page.locator('.notifications-toasts'), pattern);
  }

  async clearNotifications(): Promise<void> {
    await this.command('Notifications: Clear All Notifications');
  }

  /** The shown panel's own document, inside the webview's two iframes: a panel kept alive while hidden keeps its iframe, hidden. */
  get webview(): FrameLocator {
    return this.page.frameLocator('iframe.webview.ready >> visible=true').frameLocator('#active-frame');
  }
}
