/**
 * Simulated agents for the broker benchmark (bench/broker.ts): one child
 * process (forked with an IPC channel, bundled by bench/broker-procs.ts)
 * holding many lightweight agents, each on its own WebSocket to the hub.
 *
 * What a simulated agent does, and what it leaves out, compared with the real
 * agent (agent/hub-client.ts + agent/intent-runner.ts):
 *   - the same hub protocol, frames encoded and decoded with the product's
 *     codec and schemas (core/wire/frame-codec, BrokerFrame);
 *   - the real Challenger handshake with its own Ed25519 key
 *     (ChallengeInitiator: verifies the broker's signature, pins the broker's
 *     DID, validates the certified policy, co-signs), renewed on
 *     update_capabilities exactly like HubClient;
 *   - every intent envelope really verified with core/identity open() against
 *     the broker key of the certificate, its body checked with IntentBody and
 *     its addressee checked; then a real signed result (seal, ctx
 *     vaultysclaw/result/v1), kept until the broker acknowledges it and resent
 *     after a reconnect;
 *   - reconnection with HubClient's backoff (agent/reconnect-delay.ts: 500 ms
 *     to 30 s, full jitter; after a 1001 the first retry spread over 2 s and
 *     the next ones at most 4 s apart; reset on auth/accepted), never after
 *     close code 4003.
 *   Left out: no tool runs (the result says succeeded with an empty listing),
 *   no SQLite stores (seen ids, request window, token ledger), the delegation
 *   certificate inside the intent and the pushed revocation list are not
 *   verified, and nothing is logged. These are agent-side costs; the broker
 *   receives exactly the frames a real agent would send.
 *
 * Pacing: the hub closes a connection that sends more than 200 frames in a
 * 1-second window (HubOptions.maxFramesPerSecond), not counting a result it
 * owes for an intent sent on that connection. Each simulated agent therefore
 * paces what it sends unasked (handshake frames, results resent after a
 * reconnect) with a token bucket (10 frames of burst, refilled at
 * `maxFramesPerSecond`, 185 in the bench), queueing the rest: no 1-second
 * window holds more than 195 of them. The answer to an intent goes out at once.
 *
 * Control: the parent sends {id, t, ...} messages over IPC and gets one
 * {id, ...} reply per request (see Request below). Times are wall-clock
 * milliseconds (performance.timeOrigin + performance.now()), comparable across
 * the bench's processes.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { ReconnectBackoff } from '../agent/reconnect-delay';
import { ChallengeInitiator, IdType, open, seal, SecretIdentity, type SealedEnvelope, type VaultysId } from '../core/identity';
import { decodeFrame, encodeFrame } from '../core/wire/frame-codec';
import { AGENT_AUTH, BrokerFrame, HUB_PROTOCOL_VERSION, MAX_HUB_FRAME_BYTES, type AgentFrame } from '../core/wire/hub-messages';
import { CloseCode } from '../core/wire/close-codes';
import { IntentBody, type ResultBody } from '../core/wire/intent';
import { CertifiedPolicy, type AgentHello, type RegistrationStatus } from '../core/wire/policy';

export interface SimConfig {
  url: string;
  brokerDid: string;
  /** Sustained frames per second per connection (the hub allows 200 in any 1-second window). */
  maxFramesPerSecond: number;
  hello: AgentHello;
}

export type Request =
  | { id: number; t: 'config'; config: SimConfig }
  /** Creates `count` identities (not timed against anything); replies with their DIDs. */
  | { id: number; t: 'add'; count: number }
  /** Connects every agent not started yet, at most `concurrency` handshakes in progress; replies when all are authenticated or `timeoutMs` passes. */
  | { id: number; t: 'connect'; concurrency: number; timeoutMs: number }
  /** Replies when every agent (whose registration did not end) is authenticated, with `status` if given. */
  | { id: number; t: 'waitAuth'; status?: RegistrationStatus; timeoutMs: number }
  | { id: number; t: 'status' }
  /** Closes every socket for good, replies, then exits. */
  | { id: number; t: 'stop' };

export interface Stats {
  agents: number;
  started: number;
  authenticated: number;
  approvedAuthenticated: number;
  ended: number;
  handshakes: number;
  connectAttempts: number;
  intentsVerified: number;
  intentsRefused: number;
  resultsSent: number;
  /** Frames held back by the pacer at some point. */
  framesDelayed: number;
  closes: Record<string, number>;
  /** Failed connection attempts by cause (error code, or HTTP status of a refused upgrade). */
  failures: Record<string, number>;
  /** Authentications by how many connection attempts they took (1 = the first one). */
  attemptsToAuthenticate: Record<string, number>;
  cpuSeconds: number;
  rssKB: number;
}

const wallNow = (): number => performance.timeOrigin + performance.now();
/** The pacer's bucket: with maxFramesPerSecond = 185, no 1-second window holds more than 195 frames. */
const PACE_BURST = 10;

class Fleet {
  config?: SimConfig;
  readonly agents: SimAgent[] = [];
  authenticated = 0;
  approvedAuthenticated = 0;
  ended = 0;
  handshakes = 0;
  connectAttempts = 0;
  intentsVerified = 0;
  intentsRefused = 0;
  resultsSent = 0;
  framesDelayed = 0;
  readonly closes = new Map<string, number>();
  readonly failures = new Map<string, number>();
  readonly attempts = new Map<string, number>();
  #waiters: (() => void)[] = [];

  changed(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Calls `check` after every authentication change until it returns true or the time runs out. */
  until(check: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const deadline = setTimeout(() => resolve(check()), timeoutMs);
      const loop = () => {
        if (check()) {
          clearTimeout(deadline);
          resolve(true);
        } else this.#waiters.push(loop);
      };
      loop();
    });
  }

  stats(): Stats {
    const cpu = process.cpuUsage();
    return {
      agents: this.agents.length,
      started: this.agents.filter((a) => a.started).length,
      authenticated: this.authenticated,
      approvedAuthenticated: this.approvedAuthenticated,
      ended: this.ended,
      handshakes: this.handshakes,
      connectAttempts: this.connectAttempts,
      intentsVerified: this.intentsVerified,
      intentsRefused: this.intentsRefused,
      resultsSent: this.resultsSent,
      framesDelayed: this.framesDelayed,
      closes: Object.fromEntries(this.closes),
      failures: Object.fromEntries(this.failures),
      attemptsToAuthenticate: Object.fromEntries(this.attempts),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      rssKB: Math.round(process.memoryUsage().rss / 1024),
    };
  }
}

class SimAgent {
  started = false;
  #socket?: WebSocket;
  #stopped = false;
  readonly #backoff = new ReconnectBackoff();
  /** Connection attempts since the last authentication. */
  #tries = 0;
  #retry?: NodeJS.Timeout;
  #broker?: VaultysId;
  #authenticated = false;
  #status?: RegistrationStatus;
  /** Wall time of the last auth/accepted. */
  lastAuthAt = 0;
  readonly #unacknowledged = new Map<string, SealedEnvelope>();
  // Pacer: a token bucket (PACE_BURST tokens, refilled at maxFramesPerSecond) and the frames waiting for a token.
  #tokens = PACE_BURST;
  #refilledAt = 0;
  #queue: Uint8Array[] = [];
  #flushTimer?: NodeJS.Timeout;
  /** Resolved at the first authentication (the ramp counts handshakes in progress). */
  firstAuth?: () => void;

  constructor(
    readonly identity: SecretIdentity,
    private readonly fleet: Fleet,
  ) {}

  get did(): string {
    return this.identity.did;
  }

  start(): void {
    this.started = true;
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearTimeout(this.#flushTimer);
    this.#socket?.terminate();
  }

  #setAuthenticated(value: boolean, status?: RegistrationStatus): void {
    const f = this.fleet;
    const wasApproved = this.#authenticated && this.#status === 'approved';
    if (this.#authenticated) f.authenticated--;
    if (wasApproved) f.approvedAuthenticated--;
    this.#authenticated = value;
    if (status) this.#status = status;
    if (value) {
      f.authenticated++;
      if (this.#status === 'approved') f.approvedAuthenticated++;
    }
    f.changed();
  }

  #connect(): void {
    const config = this.fleet.config!;
    this.fleet.connectAttempts++;
    this.#tries++;
    const socket = new WebSocket(config.url, { maxPayload: MAX_HUB_FRAME_BYTES, perMessageDeflate: false });
    this.#socket = socket;
    this.#queue = [];
    let initiator: ChallengeInitiator | undefined;
    const startHandshake = () => {
      initiator = new ChallengeInitiator({
        identity: this.identity,
        ...AGENT_AUTH,
        metadata: config.hello,
        acceptResponder: (broker, metadata) => {
          if (broker.did !== config.brokerDid) return { ok: false, message: 'not the pinned broker' };
          return CertifiedPolicy.safeParse(metadata).success ? { ok: true, value: undefined } : { ok: false, message: 'no valid policy' };
        },
      });
      this.#send(socket, { type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: initiator.init });
    };
    socket.on('open', startHandshake);
    socket.on('message', (data, isBinary) => {
      const frame = decodeFrame(BrokerFrame, isBinary ? new Uint8Array(data as Buffer) : null, MAX_HUB_FRAME_BYTES);
      if (!frame.ok) return socket.close(CloseCode.BadFrame, frame.code);
      const f = frame.value;
      switch (f.type) {
        case 'auth/step1': {
          if (!initiator || initiator.state !== 'init') return socket.close(CloseCode.AuthRefused, 'out-of-order');
          const result = initiator.respond(f.challenge);
          if (!result.ok) return socket.close(CloseCode.AuthRefused, result.reason);
          this.#broker = result.value.certificate.responder;
          this.#send(socket, { type: 'auth/complete', challenge: result.value.complete });
          return;
        }
        case 'auth/accepted': {
          if (initiator?.state !== 'complete') return socket.close(CloseCode.AuthRefused, 'out-of-order');
          this.#backoff.reset();
          if (this.#tries > 0) {
            const key = String(Math.min(this.#tries, 10));
            this.fleet.attempts.set(key, (this.fleet.attempts.get(key) ?? 0) + 1);
            this.#tries = 0;
          }
          this.fleet.handshakes++;
          this.lastAuthAt = wallNow();
          this.#setAuthenticated(true, f.status);
          for (const envelope of this.#unacknowledged.values()) this.#send(socket, { type: 'result', envelope });
          const first = this.firstAuth;
          this.firstAuth = undefined;
          first?.();
          return;
        }
        case 'update_capabilities':
          // As HubClient: nothing changes until the new certificate is co-signed.
          if (this.#authenticated) this.#setAuthenticated(false);
          return startHandshake();
        case 'intent':
          return this.#onIntent(socket, f.envelope);
        case 'result/ack':
          this.#unacknowledged.delete(f.intentId);
          return;
        default:
          // revocations, delegation, approval/decision, error: not used by the benchmark.
          return;
      }
    });
    const count = (key: string) => this.fleet.failures.set(key, (this.fleet.failures.get(key) ?? 0) + 1);
    socket.on('unexpected-response', (_req, res) => {
      count(`http-${res.statusCode ?? 'unknown'}`);
      socket.terminate();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (socket.readyState !== socket.OPEN) count(err.code ?? err.message.slice(0, 40));
    });
    socket.on('close', (code) => {
      if (this.#socket !== socket) return;
      this.fleet.closes.set(String(code), (this.fleet.closes.get(String(code)) ?? 0) + 1);
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      if (this.#authenticated) this.#setAuthenticated(false);
      if (this.#stopped) return;
      if (code === CloseCode.RegistrationEnded) {
        this.fleet.ended++;
        this.fleet.changed();
        return;
      }
      this.#retry = setTimeout(() => this.#connect(), this.#backoff.next(code));
    });
  }

  #onIntent(socket: WebSocket, envelope: SealedEnvelope): void {
    if (!this.#broker) return socket.close(CloseCode.AuthRefused, 'unauthenticated');
    const opened = open(this.#broker, 'vaultysclaw/intent/v1', envelope);
    const parsed = opened.ok ? IntentBody.safeParse(opened.body) : undefined;
    if (!parsed?.success || parsed.data.agent !== this.did) {
      this.fleet.intentsRefused++;
      return;
    }
    this.fleet.intentsVerified++;
    const body: ResultBody = {
      intentId: parsed.data.id,
      agent: this.did,
      outcome: 'succeeded',
      reason: null,
      message: '',
      output: { entries: [], truncated: false },
      finishedAt: Date.now(),
    };
    const result = seal(this.identity, 'vaultysclaw/result/v1', body);
    this.#unacknowledged.set(body.intentId, result);
    this.fleet.resultsSent++;
    this.#send(socket, { type: 'result', envelope: result }, true);
  }

  /** `owed`: the answer to an intent of this connection, which the hub does not count, so it is not paced. */
  #send(socket: WebSocket, frame: AgentFrame, owed = false): void {
    if (socket.readyState !== socket.OPEN) return;
    const bytes = encodeFrame(frame);
    if (owed || (this.#queue.length === 0 && this.#take(performance.now()))) socket.send(bytes);
    else {
      this.fleet.framesDelayed++;
      this.#queue.push(bytes);
      this.#scheduleFlush(socket);
    }
  }

  /** Takes a token if one is there (refilling first). */
  #take(now: number): boolean {
    const rate = this.fleet.config!.maxFramesPerSecond / 1000;
    this.#tokens = Math.min(PACE_BURST, this.#tokens + (now - this.#refilledAt) * rate);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #scheduleFlush(socket: WebSocket): void {
    if (this.#flushTimer) return;
    const rate = this.fleet.config!.maxFramesPerSecond / 1000;
    const wait = Math.max(1, Math.ceil((1 - this.#tokens) / rate));
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      if (socket.readyState !== socket.OPEN || this.#socket !== socket) return;
      while (this.#queue.length > 0 && this.#take(performance.now())) socket.send(this.#queue.shift()!);
      if (this.#queue.length > 0) this.#scheduleFlush(socket);
    }, wait);
  }
}

const fleet = new Fleet();

function reply(id: number, body: Record<string, unknown>): void {
  process.send!({ id, ...body });
}

async function handle(req: Request): Promise<void> {
  switch (req.t) {
    case 'config':
      fleet.config = req.config;
      return reply(req.id, {});
    case 'add': {
      if (!fleet.config) throw new Error('config first');
      const dids: string[] = [];
      for (let i = 0; i < req.count; i++) {
        const agent = new SimAgent(SecretIdentity.generate(IdType.Machine), fleet);
        fleet.agents.push(agent);
        dids.push(agent.did);
      }
      return reply(req.id, { dids });
    }
    case 'connect': {
      const pending = fleet.agents.filter((a) => !a.started);
      const startedAt = wallNow();
      let next = 0;
      let done = 0;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, req.timeoutMs);
        const launch = () => {
          const agent = pending[next++];
          if (!agent) return;
          agent.firstAuth = () => {
            if (++done === pending.length) {
              clearTimeout(timer);
              resolve();
            } else launch();
          };
          agent.start();
        };
        if (pending.length === 0) {
          clearTimeout(timer);
          resolve();
        }
        for (let i = 0; i < Math.min(req.concurrency, pending.length); i++) launch();
      });
      return reply(req.id, { count: pending.length, authenticated: done, startedAt, finishedAt: wallNow() });
    }
    case 'waitAuth': {
      const live = () => fleet.agents.length - fleet.ended;
      const ok = await fleet.until(
        () => (req.status === 'approved' ? fleet.approvedAuthenticated : fleet.authenticated) >= live(),
        req.timeoutMs,
      );
      return reply(req.id, { ok, at: wallNow(), lastAuthAt: fleet.agents.map((a) => a.lastAuthAt), stats: fleet.stats() });
    }
    case 'status':
      return reply(req.id, { stats: fleet.stats() });
    case 'stop':
      for (const agent of fleet.agents) agent.stop();
      reply(req.id, { stats: fleet.stats() });
      setTimeout(() => process.exit(0), 50);
      return;
  }
}

process.on('message', (req: Request) => {
  handle(req).catch((err: unknown) => reply(req.id, { error: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
});
// The parent is gone: never outlive it.
process.on('disconnect', () => process.exit(0));
