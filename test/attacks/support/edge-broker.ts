import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { PendingLimits } from '../../../broker/agents/pending-registrations';
import { Broker } from '../../../broker/broker';
import type { HubOptions } from '../../../broker/hub/hub-server';
import { closeBrokerLogger, createBrokerLogger } from '../../../broker/log';
import { IdType, SecretIdentity } from '../../../core/identity';
import { SessionMethods } from '../../../core/rpc/methods';
import { MAX_HUB_FRAME_BYTES } from '../../../core/wire/hub-messages';
import { waitFor } from '../../support/processes';
import type { Closed } from './rogue-agent';

export type EdgeHubOptions = Omit<HubOptions, 'createConnection' | 'acceptRpc' | 'log' | 'host' | 'port'>;

/**
 * An in-process broker with its real audit log (hash-chained audit.log in a temp data directory) and a hub on
 * 127.0.0.1, whose edge budgets a test may lower to reach them quickly. The operator key is an owner.
 */
export class EdgeBroker {
  private constructor(
    readonly broker: Broker,
    readonly url: string,
    readonly dataDir: string,
    readonly operator: SecretIdentity,
    private readonly log: ReturnType<typeof createBrokerLogger>,
  ) {}

  static async start(hub: EdgeHubOptions = {}, pendingLimits?: Partial<PendingLimits>): Promise<EdgeBroker> {
    const dataDir = mkdtempSync(join(tmpdir(), 'vc-edge-'));
    const identity = SecretIdentity.generate(IdType.Machine);
    const operator = SecretIdentity.generate(IdType.Person);
    const log = createBrokerLogger(dataDir, identity, 'info');
    const broker = await Broker.open({ dataDir, identity, log, localOperatorDid: operator.did, pendingLimits });
    const url = await broker.startHub({ host: '127.0.0.1', port: 0, ...hub });
    return new EdgeBroker(broker, url, dataDir, operator, log);
  }

  /** Runs `run` against a fresh broker, stops it (writing its last refusal summary) and returns its audit log's lines. */
  static async audited(run: (edge: EdgeBroker) => Promise<void>, hub: EdgeHubOptions = {}, pendingLimits?: Partial<PendingLimits>): Promise<Record<string, unknown>[]> {
    const edge = await EdgeBroker.start(hub, pendingLimits);
    try {
      await run(edge);
      await edge.stop();
      return edge.audit();
    } finally {
      edge.remove();
    }
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** The audit log's lines so far. */
  audit(): Record<string, unknown>[] {
    return readFileSync(join(this.dataDir, 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Stops the hub (which writes the last refusal summary) and closes the audit log; the data stays for audit(). */
  async stop(): Promise<void> {
    await this.broker.close();
    closeBrokerLogger(this.log);
  }

  remove(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** A raw WebSocket to the hub: the test chooses the path, the Origin and the source address, and sees every close. */
export class RawSocket {
  readonly texts: Record<string, unknown>[] = [];
  closed?: Closed;
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      if (!isBinary) this.texts.push(JSON.parse(data.toString()) as Record<string, unknown>);
    });
    socket.on('error', () => undefined);
    socket.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  /** Opens, or fails with the HTTP status the broker answered the upgrade with. */
  static async open(url: string, options: { path?: string; origin?: string; localAddress?: string } = {}): Promise<RawSocket> {
    const socket = new WebSocket(`${url}${options.path ?? ''}`, { perMessageDeflate: false, maxPayload: MAX_HUB_FRAME_BYTES, origin: options.origin, localAddress: options.localAddress });
    const raw = new RawSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body.trim())));
      });
      socket.once('error', reject);
    });
    return raw;
  }

  /** A refused login: session/init with a challenge that is no handshake message. */
  sendRefusedLogin(id: number): void {
    this.socket.send(JSON.stringify({ jsonrpc: '2.0', id, method: SessionMethods.init.method, params: { challenge: 'AAAA' } }));
  }

  async waitClosed(timeoutMs = 5000): Promise<Closed> {
    return waitFor('the socket to close', () => this.closed, timeoutMs);
  }

  close(): void {
    this.socket.terminate();
  }
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused: ${status} ${body}`);
  }
}

/** The error an upgrade was refused with (fails if it opened). */
export async function upgradeRefusal(open: Promise<RawSocket>): Promise<UpgradeRefused> {
  try {
    const raw = await open;
    raw.close();
  } catch (err) {
    if (err instanceof UpgradeRefused) return err;
    throw err;
  }
  throw new Error('the upgrade was accepted');
}

/** A plain TCP connection to the hub that says nothing until the test makes it; `ended` is set when the broker closes it. */
export class SilentTcp {
  ended = false;
  readonly received: Buffer[] = [];
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk) => this.received.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.ended = true));
  }

  static async open(port: number, localAddress = '127.0.0.1'): Promise<SilentTcp> {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new SilentTcp(socket);
  }

  text(): string {
    return Buffer.concat(this.received).toString();
  }

  close(): void {
    this.socket.destroy();
  }
}
