/** How often the age words of visible rows are brought up to date: the coarsest unit they show is a minute. */
export const AGE_REFRESH_MS = 30_000;

/**
 * Runs `tick` every `intervalMs` while at least one of the views it serves is visible, and not at all otherwise: a
 * hidden sidebar costs no timer. No vscode import, so the extension tests drive it with real timers.
 */
export class AgeTicker {
  readonly #visible = new Set<string>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly tick: () => void,
    private readonly intervalMs = AGE_REFRESH_MS,
  ) {}

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** A view `key` became visible (brought up to date at once: it may have been hidden for an hour) or hidden. */
  setVisible(key: string, visible: boolean): void {
    if (visible) {
      const wasVisible = this.#visible.has(key);
      this.#visible.add(key);
      if (!wasVisible) this.#safeTick();
    } else this.#visible.delete(key);
    if (this.#visible.size > 0 && !this.#timer) this.#timer = setInterval(() => this.#safeTick(), this.intervalMs);
    if (this.#visible.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** A timer callback never throws: a bad row must not stop every later refresh. */
  #safeTick(): void {
    try {
      this.tick();
    } catch {
      // The next tick tries again; the rows keep their last words meanwhile.
    }
  }

  dispose(): void {
    this.#visible.clear();
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
