import { z } from 'zod';
import { BUDGETS } from '../budgets';
import { nameKey } from '../text/untrusted-text';
import { BrokerAuthority } from '../wire/authority';
import { StoredText } from '../wire/common';
import { Role } from './roles';

/**
 * Challenger protocol and service of user authentication: an agent handshake
 * (service agent-auth/v1) can never pass for a user one, nor the reverse.
 */
export const USER_AUTH = { protocol: 'vaultysclaw', service: 'user-auth/v1' } as const;

/** A user's name: bounded in bytes (what the wire and the database hold), more than invisible characters, no NUL. */
export const UserName = StoredText(z.string())
  .refine((name) => new TextEncoder().encode(name).length <= BUDGETS.userNameBytes.limit, {
    message: `a name is at most ${BUDGETS.userNameBytes.limit} bytes of UTF-8`,
  })
  .refine((name) => nameKey(name).length > 0, { message: 'a name needs a visible character' });

/** What a user says in metadata.pk1: a display name (kept from the first login only) and, to join, an invitation token. */
export const UserHello = z.strictObject({
  name: UserName,
  invitation: z.string().regex(/^[A-Za-z0-9_-]{43}$/).optional(),
});
export type UserHello = z.infer<typeof UserHello>;

/** What the broker certifies in metadata.pk2 of a user session; `authority` lets a user who pins the root verify the broker. */
export const UserGrant = z.strictObject({ role: Role, brokerName: z.string().max(128), authority: BrokerAuthority.optional() });
export type UserGrant = z.infer<typeof UserGrant>;
