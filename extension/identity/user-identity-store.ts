import type * as vscode from 'vscode';
import type { SecretIdentity } from '../../core/identity';
import { decodeUserSecret, encodeUserSecret, generateUserIdentity } from './user-key';

const SECRET_KEY = 'vaultysclaw.userSecret';

/** The user's VaultysId, kept in the editor's SecretStorage (the OS keychain where there is one), never in settings or files. */
export class UserIdentityStore {
  #cached: SecretIdentity | undefined;

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The stored identity, created as a fresh person id on first use. */
  async load(): Promise<SecretIdentity> {
    if (this.#cached) return this.#cached;
    const stored = await this.secrets.get(SECRET_KEY);
    if (stored) {
      this.#cached = decodeUserSecret(stored);
      return this.#cached;
    }
    const identity = generateUserIdentity();
    await this.secrets.store(SECRET_KEY, encodeUserSecret(identity));
    this.log.info(`created your VaultysClaw user id ${identity.did} (kept in the editor's secret storage)`);
    this.#cached = identity;
    return identity;
  }

  async exportSecret(): Promise<{ did: string; secret: string }> {
    const identity = await this.load();
    return { did: identity.did, secret: encodeUserSecret(identity) };
  }

  /** Replaces the stored identity; returns the previous DID. */
  async import(text: string): Promise<{ previous: string | undefined; did: string }> {
    const identity = decodeUserSecret(text);
    let previous = this.#cached?.did;
    if (!previous) {
      try {
        const stored = await this.secrets.get(SECRET_KEY);
        previous = stored ? decodeUserSecret(stored).did : undefined;
      } catch {
        previous = undefined;
      }
    }
    await this.secrets.store(SECRET_KEY, encodeUserSecret(identity));
    this.#cached = identity;
    this.log.info(`imported user id ${identity.did}${previous && previous !== identity.did ? ` (replacing ${previous})` : ''}`);
    return { previous, did: identity.did };
  }

  /** Another window imported a key: forget the cached one. */
  onDidChange(listener: () => void): vscode.Disposable {
    return this.secrets.onDidChange((e) => {
      if (e.key !== SECRET_KEY) return;
      this.#cached = undefined;
      listener();
    });
  }
}
