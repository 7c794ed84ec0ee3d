import { z } from 'zod';

/** Roles of users on a broker (architecture.md, RBAC). */
export const Role = z.enum(['owner', 'admin', 'operator', 'reviewer', 'viewer']);
export type Role = z.infer<typeof Role>;

export const EVERYONE: readonly Role[] = Role.options;
export const ADMINS: readonly Role[] = ['owner', 'admin'];
export const DISPATCHERS: readonly Role[] = ['owner', 'admin', 'operator'];
export const REVIEWERS: readonly Role[] = ['owner', 'admin', 'reviewer'];

/** Authority over other users: nobody grants, or acts on, a role as high as their own (the owner excepted for admins). */
const RANK: Record<Role, number> = { owner: 4, admin: 3, operator: 2, reviewer: 2, viewer: 1 };

export function mayAssign(actor: Role, role: Role): boolean {
  return role !== 'owner' && RANK[role] < RANK[actor];
}

export function mayManage(actor: Role, target: Role): boolean {
  return RANK[target] < RANK[actor];
}
