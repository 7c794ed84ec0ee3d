import { z } from 'zod';

/** Roles of users on a broker (architecture.md, RBAC). */
export const Role = z.enum(['owner', 'admin', 'operator', 'reviewer', 'viewer']);
export type Role = z.infer<typeof Role>;

export const EVERYONE: readonly Role[] = Role.options;
export const ADMINS: readonly Role[] = ['owner', 'admin'];
export const DISPATCHERS: readonly Role[] = ['owner', 'admin', 'operator'];
