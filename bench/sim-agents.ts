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
 *     close code 4003;
 *   - on a cluster (SimConfig.urls, bench/cluster.ts): each agent starts on
 *     one node (the fleet's global order modulo the nodes), and after a
 *     connection that ended without a close frame (1006: the node died) or
 *     never opened, the next attempt, after the same backoff, goes to the
 *     next node's URL; a clean close retries the same node;
 *   - the pushed revocation list: its arrival time is recorded (before it is
 *     opened), then it is opened against the broker key and its version kept.
 *   Left out: no tool runs (the result says succeeded with an empty listing),
 *   no SQLite stores (seen ids, request window, token ledger), the delegation
 *   certificate inside the intent is not verified, the revocation list is not
 *   applied (only its version kept), and nothing is logged. These are agent-side costs; the broker
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
import { RevocationListBody } from '../core/wire/delegation';
import { IntentBody, type ResultBody } from '../core/wire/intent';
import { CertifiedPolicy, type AgentHello, type RegistrationStatus } from '../core/wire/policy';

export interface SimConfig {
  url: string;
  brokerDid: string;
  /** Sustained frames per second per connection (the hub allows 200 in any 1-second window). */
  maxFramesPerSecond: number;
  hello: AgentHello;
  /** A cluster's node URLs (replacing `url`): agent k of this process starts on urls[(k * place.of + place.index) % urls.length]. */
  urls?: string[];
  /** This process's place among the fleet's processes: the fleet's global order is interleaved across them. */
  place?: { index: number; of: number };
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
  /** Points the fleet at other brokers: every agent whose node changes closes its socket and connects there at once. */
  | { id: number; t: 'retarget'; urls: string[]; brokerDid: string }
  /** Stops the agents not authenticated and forgets them (a fleet larger than the machine authenticates in time); replies with their DIDs. */
  | { id: number; t: 'drop' }
  /** Remembers each agent's revocation-list version: waitLists then waits for a newer one. */
  | { id: number; t: 'markLists' }
  /** Replies when every live agent holds a list newer than at markLists, with each one's arrival time (null if none in time). */
  | { id: number; t: 'waitLists'; timeoutMs: number }
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
  /** Revocation lists that did not open against the broker key or were not a list. */
  listsRefused: number;
  /** Authenticated agents by the URL they are connected to. */
  authenticatedByUrl: Record<string, number>;
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
  listsRefused = 0;
  /** Agents holding a list newer than at markLists. */
  listsNewer = 0;
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

  #byUrl(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.agents) if (a.authenticated && a.url) out[a.url] = (out[a.url] ?? 0) + 1;
    return out;
  }

  /** The URLs agents connect to: a cluster's nodes, or the one broker. */
  urls(): string[] {
    return this.config!.urls ?? [this.config!.url];
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
      listsRefused: this.listsRefused,
      authenticatedByUrl: this.#byUrl(),
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
  /** Index into the fleet's URLs of the node this agent connects to next. */
  #node: number;
  /** The URL of the current socket. */
  url?: string;
  /** The newest revocation-list version held, when it arrived (wall ms), and the version at markLists. */
  listVersion = -1;
  listAt = 0;
  listMark = -1;

  constructor(
    readonly identity: SecretIdentity,
    private readonly fleet: Fleet,
    /** This agent's place in the fleet's global order (interleaved across processes). */
    readonly order: number,
  ) {
    this.#node = order % fleet.urls().length;
  }

  get authenticated(): boolean {
    return this.#authenticated;
  }

  /** Moves to the node the fleet's (new) URLs give this agent: its socket closed and a new one opened at once. */
  retarget(): void {
    const urls = this.fleet.urls();
    this.#node = this.order % urls.length;
    if (!this.started || this.#stopped || this.url === urls[this.#node]) return;
    const old = this.#socket;
    this.#socket = undefined;
    clearTimeout(this.#retry);
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#authenticated) this.#setAuthenticated(false);
    old?.terminate();
    this.#backoff.reset();
    this.#connect();
  }

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
    const urls = this.fleet.urls();
    this.url = urls[this.#node % urls.length]!;
    const socket = new WebSocket(this.url, { maxPayload: MAX_HUB_FRAME_BYTES, perMessageDeflate: false });
    this.#socket = socket;
    let opened = false;
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
    socket.on('open', () => {
      opened = true;
      startHandshake();
    });
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
        case 'revocations':
          return this.#onRevocations(f.envelope);
        default:
          // delegation, approval/decision, error: not used by the benchmark.
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
      // The node died or refused the connection: the next attempt goes to the next node of a cluster.
      if (!opened || code === 1006) this.#node = (this.#node + 1) % this.fleet.urls().length;
      this.#retry = setTimeout(() => this.#connect(), this.#backoff.next(code));
    });
  }

  #onRevocations(envelope: SealedEnvelope): void {
    const at = wallNow();
    const opened = this.#broker ? open(this.#broker, 'vaultysclaw/revocation-list/v1', envelope) : undefined;
    const list = opened?.ok ? RevocationListBody.safeParse(opened.body) : undefined;
    if (!list?.success) {
      this.fleet.listsRefused++;
      return;
    }
    if (list.data.version <= this.listVersion) return;
    if (this.listVersion <= this.listMark && list.data.version > this.listMark) this.fleet.listsNewer++;
    this.listVersion = list.data.version;
    this.listAt = at;
    this.fleet.changed();
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
      const place = fleet.config.place ?? { index: 0, of: 1 };
      for (let i = 0; i < req.count; i++) {
        const agent = new SimAgent(SecretIdentity.generate(IdType.Machine), fleet, fleet.agents.length * place.of + place.index);
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
    case 'retarget':
      fleet.config = { ...fleet.config!, urls: req.urls, brokerDid: req.brokerDid };
      for (const agent of fleet.agents) agent.retarget();
      return reply(req.id, {});
    case 'drop': {
      const dropped = fleet.agents.filter((a) => !a.authenticated);
      for (const agent of dropped) agent.stop();
      const kept = fleet.agents.filter((a) => a.authenticated);
      fleet.agents.length = 0;
      fleet.agents.push(...kept);
      return reply(req.id, { dropped: dropped.map((a) => a.did) });
    }
    case 'markLists':
      for (const agent of fleet.agents) agent.listMark = agent.listVersion;
      fleet.listsNewer = 0;
      return reply(req.id, {});
    case 'waitLists': {
      const live = fleet.agents.filter((a) => a.started);
      const ok = await fleet.until(() => fleet.listsNewer >= live.length, req.timeoutMs);
      return reply(req.id, { ok, listAt: live.map((a) => (a.listVersion > a.listMark ? a.listAt : null)), stats: fleet.stats() });
    }
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
