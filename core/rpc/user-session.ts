import { ChallengeInitiator, type SecretIdentity } from '../identity';
import { SessionMethods } from './methods';
import { USER_AUTH, UserGrant, type UserHello } from './user-auth';
import type { UserView } from './views';

export type SendRequest = (method: string, params: unknown) => Promise<unknown>;

/**
 * The client half of the session handshake (CLI and extension alike): the
 * user initiates, and refuses to co-sign unless the broker proves the pinned
 * DID and certifies a role.
 */
export async function authenticateUser(
  send: SendRequest,
  identity: SecretIdentity,
  brokerDid: string,
  hello: UserHello,
): Promise<{ user: UserView; grant: UserGrant }> {
  let grant: UserGrant | undefined;
  const initiator = new ChallengeInitiator({
    identity,
    ...USER_AUTH,
    metadata: hello,
    acceptResponder: (broker, metadata) => {
      if (broker.did !== brokerDid) return { ok: false, message: `broker proved ${broker.did}, not the pinned ${brokerDid}` };
      const parsed = UserGrant.safeParse(metadata);
      if (!parsed.success) return { ok: false, message: 'the broker certified no role' };
      grant = parsed.data;
      return { ok: true, value: undefined };
    },
  });
  const step1 = SessionMethods.init.result.parse(
    await send(SessionMethods.init.method, { challenge: Buffer.from(initiator.init).toString('base64') }),
  );
  const completed = initiator.respond(new Uint8Array(Buffer.from(step1.challenge, 'base64')));
  if (!completed.ok) throw new Error(`the broker failed authentication (${completed.reason}): ${completed.message}`);
  const done = SessionMethods.complete.result.parse(
    await send(SessionMethods.complete.method, { challenge: Buffer.from(completed.value.complete).toString('base64') }),
  );
  return { user: done.user, grant: grant! };
}
