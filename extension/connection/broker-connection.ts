import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { BUDGETS } from '../../core/budgets';
import { collectPages } from '../../core/rpc/pages';
import { ADMINS, DISPATCHERS, REVIEWERS, type Role } from '../../core/rpc/roles';
import type { UserView } from '../../core/rpc/views';
import type { UserHello } from '../../core/rpc/user-auth';
import type { UserIdentityStore } from '../identity/user-identity-store';
import type { LiveModel } from '../model/live-model';
import type { BrokerTls } from '../../core/wire/broker-tls';
import { validateSettings, type RemoteTls, type Settings } from '../settings';
import type { BrokerCli } from './broker-cli';
import type { BrokerSession } from './broker-session';
import { languageClientLauncher } from './local-broker';
import { connectLocalBroker, type LocalConnected } from './local-session';
import { notOwnerMessage, roleChangeMessage, roleSetter, watchOwnStanding, type StandingMessage } from './role-change';
import { BrokerSupervisor, PermanentConnectError, type BrokerState, type Connected } from './supervisor';
import { connectTeamBroker } from './team-broker';
import { notify } from '../notify';

export function readSettings(): ReturnType<typeof validateSettings> {
  const c = vscode.workspace.getConfiguration('vaultysclaw');
  return validateSettings({
    brokerMode: c.get('brokerMode'),
    brokerUrl: c.get('brokerUrl'),
    brokerDid: c.get('brokerDid'),
    allowPlainWs: c.get('allowPlainWs'),
    brokerCaFile: c.get('brokerCaFile'),
    brokerTlsPin: c.get('brokerTlsPin'),
    nodePath: c.get('nodePath'),
    dataDir: c.get('dataDir'),
    hubPort: c.get('hubPort'),
    stalenessWindow: c.get('stalenessWindow'),
    userName: c.get('userName'),
  });
}

/** Settings whose change means a different broker (or a different way to reach it). */
export const CONNECTION_SETTINGS = ['brokerMode', 'brokerUrl', 'brokerDid', 'allowPlainWs', 'brokerCaFile', 'brokerTlsPin', 'nodePath', 'dataDir', 'hubPort', 'userName'].map((s) => `vaultysclaw.${s}`);

/**
 * The extension's one connection to a broker, local or team: the supervisor
 * that keeps it, the model fed by it, the context keys menus read, and the
 * messages that tell the person when it is lost.
 */
export class BrokerConnection implements vscode.Disposable {
  readonly supervisor: BrokerSupervisor;
  #settings: Settings | undefined;
  #local: { cli: BrokerCli; dataDir: string } | undefined;
  #invitation: string | undefined;
  #disposables: vscode.Disposable[] = [];
  #wasConnected = false;
  /** This session's watch on its own user (users/changed), replaced at each connection. */
  #selfWatch: vscode.Disposable | undefined;
  /** How each broker last saw this user, so a demotion between two sessions is reported too. */
  readonly #lastStanding = new Map<string, Pick<UserView, 'role' | 'removed'>>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly model: LiveModel,
    readonly identities: UserIdentityStore,
    readonly log: vscode.LogOutputChannel,
    readonly brokerLog: vscode.LogOutputChannel,
  ) {
    this.supervisor = new BrokerSupervisor(() => this.#connect());
    this.#disposables.push(
      this.supervisor.onDidChangeState((state) => this.#stateChanged(state)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (CONNECTION_SETTINGS.some((s) => e.affectsConfiguration(s))) {
          this.log.info('connection settings changed; reconnecting');
          void this.supervisor.restart();
        }
      }),
    );
  }

  get settings(): Settings | undefined {
    return this.#settings;
  }

  /** How to run the broker CLI and where its data is, for a broker the extension runs (known even while it is down). */
  get local(): { cli: BrokerCli; dataDir: string } | undefined {
    return this.#local;
  }

  get session(): BrokerSession | undefined {
    return this.supervisor.session;
  }

  start(): void {
    this.supervisor.start();
  }

  restart(): Promise<void> {
    return this.supervisor.restart();
  }

  /** For the next connection to a team broker: an invitation token to join with. */
  useInvitation(token: string): void {
    this.#invitation = token;
  }

  /**
   * The live session for a command, or undefined after telling the person the
   * broker is not connected and offering a restart (commands never throw at
   * them because the broker is down). The command ends at once; the offer
   * stays in the notification.
   */
  async requireSession(what: string): Promise<BrokerSession | undefined> {
    const session = this.supervisor.session;
    if (session) return session;
    const state = this.supervisor.state;
    const why = state.kind === 'disconnected' ? state.reason : state.kind === 'connecting' ? 'still connecting' : 'stopped';
    const message = `cannot ${what}: the broker is not connected (${why.replace(/\.$/, '')}).`;
    this.log.warn(message);
    void notify.warn(`VaultysClaw: ${message}`, 'Restart Broker', 'Show Log').then((choice) => {
      if (choice === 'Restart Broker') void this.restart();
      if (choice === 'Show Log') this.log.show();
    });
    return undefined;
  }

  dataDirFor(settings: Settings & { mode: 'local' }): string {
    return settings.dataDir ?? join(this.context.globalStorageUri.fsPath, 'broker');
  }

  async #connect() {
    const check = readSettings();
    if (!check.ok) throw new PermanentConnectError(check.problems.join(' '), 'openSettings');
    const settings = check.settings;
    this.#settings = settings;
    void vscode.commands.executeCommand('setContext', 'vaultysclaw.local', settings.mode === 'local');
    const identity = await this.identities.load();
    // Within the broker's name budget (BUDGETS.userNameBytes) whatever the login and host names are: 64 UTF-16 units are at most 256 bytes.
    const hello: UserHello = { name: settings.userName ?? `${safeUserName()}@${hostname()}`.slice(0, 64) };
    if (settings.mode === 'remote') {
      const invitation = this.#invitation;
      this.#invitation = undefined;
      this.log.info(`attaching to the team broker ${settings.brokerUrl}, pinned to ${settings.brokerDid}`);
      return connectTeamBroker(settings.brokerUrl, settings.brokerDid, identity, invitation ? { ...hello, invitation } : hello, remoteTls(settings.tls));
    }
    const dataDir = this.dataDirFor(settings);
    const connected: LocalConnected = await connectLocalBroker({
      extensionPath: this.context.extensionPath,
      nodePathSetting: settings.nodePath,
      dataDir,
      hubPort: settings.hubPort,
      identity,
      hello,
      launch: languageClientLauncher(this.brokerLog, this.log),
      log: (level, message) => this.log[level](message),
    });
    this.#local = { cli: connected.cli, dataDir };
    return connected;
  }

  #stateChanged(state: BrokerState): void {
    const session = state.kind === 'connected' ? state.connection.session : undefined;
    void vscode.commands.executeCommand('setContext', 'vaultysclaw.brokerState', state.kind);
    void vscode.commands.executeCommand('setContext', 'vaultysclaw.connected', Boolean(session));
    this.#selfWatch?.dispose();
    this.#selfWatch = undefined;
    if (session) this.#roleContext(session.role);
    switch (state.kind) {
      case 'connected':
        this.log.info(`connected to ${state.connection.label} as ${session!.user.did} (${session!.role})`);
        this.#wasConnected = true;
        this.#watchStanding(state.connection);
        this.model.attach(state.connection.session).catch((err: unknown) => {
          this.log.error(`could not load the broker's state: ${(err as Error).message}`);
          if (this.supervisor.session === state.connection.session) this.model.detach(`could not load the broker's state: ${(err as Error).message}`);
        });
        break;
      case 'connecting':
        this.model.detach('connecting to the broker…');
        break;
      case 'stopped':
        this.model.detach('the broker connection is stopped');
        break;
      case 'disconnected': {
        this.model.detach(state.reason);
        const retry = state.retryInMs !== null ? ` Retrying in ${Math.round(state.retryInMs / 1000)} s.` : '';
        (state.retryInMs === null ? this.log.error : this.log.warn).call(this.log, `broker disconnected: ${state.reason.replace(/\.$/, '')}.${retry}`);
        if (state.retryInMs === null) void this.#reportGaveUp(state);
        else if (this.#wasConnected) void notify.warn(`VaultysClaw: lost the broker (${state.reason.replace(/\.$/, '')}).${retry}`, 'Show Broker Log').then((c) => c && this.brokerLog.show());
        this.#wasConnected = false;
        break;
      }
    }
  }

  #roleContext(role: Role | undefined): void {
    void vscode.commands.executeCommand('setContext', 'vaultysclaw.role', role);
    void vscode.commands.executeCommand('setContext', 'vaultysclaw.canAdmin', role !== undefined && ADMINS.includes(role));
    void vscode.commands.executeCommand('setContext', 'vaultysclaw.canDispatch', role !== undefined && DISPATCHERS.includes(role));
    void vscode.commands.executeCommand('setContext', 'vaultysclaw.canReview', role !== undefined && REVIEWERS.includes(role));
  }

  /**
   * The person hears of every change to their own standing (issue 13, finding 2): at connection, a role
   * below the one this broker gave them last time or, on the broker the editor started, anything but owner;
   * then every users/changed about them, with the new role and who set it. The status bar follows.
   */
  #watchStanding(connection: Connected): void {
    const session = connection.session;
    const key = `${session.brokerDid} ${session.user.did}`;
    const report = (message: StandingMessage | undefined) => {
      if (!message) return;
      this.log[message.warning ? 'warn' : 'info'](message.text);
      void (message.warning ? notify.warn : notify.info)(message.text);
    };
    const nameOf = (did: string) => this.model.user(did)?.name;
    const last = this.#lastStanding.get(key);
    if (last) report(roleChangeMessage(connection.label, last, session.user, roleSetter(session.user, nameOf)));
    this.#lastStanding.set(key, session.user);
    if (connection.expectedRole === 'owner' && session.role !== 'owner') {
      void collectPages((cursor) => session.call('usersList', { cursor, limit: BUDGETS.listPageItems.limit })).then(
        ({ items: users }) => {
          const text = notOwnerMessage(session.role, users, session.user.did, this.#local?.dataDir);
          if (text) report({ warning: true, text });
        },
        (err: unknown) => this.log.warn(`could not list the local broker's owners: ${(err as Error).message}`),
      );
    }
    this.#selfWatch = watchOwnStanding(session, connection.label, nameOf, (message, user) => {
      this.#lastStanding.set(key, user);
      if (this.supervisor.session === session) this.#roleContext(user.removed ? undefined : user.role);
      report(message);
    });
  }

  async #reportGaveUp(state: BrokerState & { kind: 'disconnected' }): Promise<void> {
    const actions = ['Restart Broker', 'Show Log'];
    if (state.remedy === 'openSettings') actions.unshift('Open Settings');
    if (state.remedy === 'enterInvitation') actions.unshift('Enter Invitation…');
    const choice = await notify.error(`VaultysClaw: ${state.reason}`, ...actions);
    switch (choice) {
      case 'Restart Broker':
        return this.restart();
      case 'Show Log':
        return this.log.show();
      case 'Open Settings':
        await vscode.commands.executeCommand('workbench.action.openSettings', 'vaultysclaw');
        return;
      case 'Enter Invitation…':
        await vscode.commands.executeCommand('vaultysclaw.joinBroker');
        return;
    }
  }

  dispose(): void {
    this.#selfWatch?.dispose();
    for (const d of this.#disposables.splice(0)) d.dispose();
    void this.supervisor.stop();
  }
}

function safeUserName(): string {
  try {
    return userInfo().username || 'user';
  } catch {
    return 'user';
  }
}

/** The CA file is read at each connection, so a renewed bundle needs no reload; an unreadable one is a settings problem. */
function remoteTls(tls: RemoteTls | null): BrokerTls | undefined {
  if (!tls) return undefined;
  let ca: Buffer | undefined;
  if (tls.caFile) {
    try {
      ca = readFileSync(tls.caFile);
    } catch (err) {
      throw new PermanentConnectError(`cannot read vaultysclaw.brokerCaFile ${tls.caFile}: ${(err as Error).message}`, 'openSettings');
    }
  }
  return { ca, pinSha256: tls.pinSha256 ?? undefined };
}
