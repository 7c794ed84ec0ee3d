import { IdType, SecretIdentity } from '../../core/identity';

/**
 * The user's secret as it is stored (SecretStorage) and moved between
 * machines: base64 of the 77-byte VaultysId secret, the same text as a key
 * file, so an exported key also works with the CLI's --key.
 */
export function encodeUserSecret(identity: SecretIdentity): string {
  return Buffer.from(identity.exportSecret()).toString('base64');
}

/** Parses an imported or stored secret; refuses anything but a person id (users prove person ids). */
export function decodeUserSecret(text: string): SecretIdentity {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new Error('not a VaultysClaw user key: expected one line of base64 (as written by Export User Key or `broker keygen`)');
  let identity: SecretIdentity;
  try {
    identity = SecretIdentity.fromSecret(new Uint8Array(Buffer.from(trimmed, 'base64')));
  } catch (err) {
    throw new Error(`not a VaultysClaw user key: ${(err as Error).message}`);
  }
  if (identity.id.type !== IdType.Person) throw new Error('this key is a machine id (a broker or an agent key), not a user key');
  return identity;
}

export function generateUserIdentity(): SecretIdentity {
  return SecretIdentity.generate(IdType.Person);
}
