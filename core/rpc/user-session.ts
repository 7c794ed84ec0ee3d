import { acceptBroker, isRootDid } from '../authority/broker-pin';
import { SESSION_TRUST, type TrustMemory } from '../authority/trust-memory';
import { ChallengeInitiator, type SecretIdentity } from '../identity';
import { DEFAULT_CLOCK_SKEW_MS } from '../policy/intent-gates';
import { SessionMethods } from './methods';
import type { RpcEndpoint } from './rpc-client';
import { RpcError, type RpcErrorReason } from './rpc-error';
import { USER_AUTH, UserGrant, type UserHello } from './user-auth';
import type { UserView } from './views';

export type SendRequest = RpcEndpoint['sendRequest'];

/**
 * The client half of the session handshake (CLI and extension alike): the
 * user initiates, and refuses to co-sign unless the broker proves the pinned
 * DID — or, when the pin is a root, an id that root currently certifies — and
 * certifies a role. What a verified chain teaches (revocations, replaced ids,
 * the newest certificate serial) is kept in `memory` (by default for the life
 * of this process), so a broker presenting an older generation is refused.
 * A refusal on this side is an RpcError with its reason (broker-not-pinned, no-role-certified,
 * broker-handshake-refused), like the broker's own refusals.
 */
export async function authenticateUser(
  send: SendRequest,
  identity: SecretIdentity,
  brokerDid: string,
  hello: UserHello,
  memory: TrustMemory = SESSION_TRUST,
): Promise<{ user: UserView; grant: UserGrant }> {
  let grant: UserGrant | undefined;
  let refusal: RpcErrorReason = 'broker-handshake-refused';
  const initiator = new ChallengeInitiator({
    identity,
    ...USER_AUTH,
    metadata: hello,
    acceptResponder: (broker, metadata) => {
      const parsed = UserGrant.safeParse(metadata);
      const trusted = acceptBroker(brokerDid, broker, parsed.success ? parsed.data.authority : undefined, {
        now: Date.now(),
        clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
        learnt: memory.learnt,
        mismatch: (proved) => `broker proved ${proved}, not the pinned ${brokerDid}`,
      });
      // A broken chain is as final as a wrong key: both are broker-not-pinned, which clients treat as permanent.
      if (!trusted.ok) {
        refusal = 'broker-not-pinned';
        return { ok: false, message: isRootDid(brokerDid) ? `${trusted.message}; the broker is not the pinned ${brokerDid}` : trusted.message };
      }
      if (!parsed.success) {
        refusal = 'no-role-certified';
        return { ok: false, message: 'the broker certified no role' };
      }
      grant = parsed.data;
      memory.learn(trusted.chain);
      return { ok: true, value: undefined };
    },
  });
  const step1 = SessionMethods.init.result.parse(
    await send(SessionMethods.init.method, { challenge: Buffer.from(initiator.init).toString('base64') }),
  );
  const completed = initiator.respond(new Uint8Array(Buffer.from(step1.challenge, 'base64')));
  if (!completed.ok) {
    throw new RpcError(completed.reason === 'peer-refused' ? refusal : 'broker-handshake-refused', `the broker failed authentication (${completed.reason}): ${completed.message}`);
  }
  const done = SessionMethods.complete.result.parse(
    await send(SessionMethods.complete.method, { challenge: Buffer.from(completed.value.complete).toString('base64') }),
  );
  return { user: done.user, grant: grant! };
}
