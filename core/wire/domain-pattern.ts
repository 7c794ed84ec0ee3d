import { z } from 'zod';

/**
 * A host a command (through the agent's egress proxy) or http_fetch may reach: an exact lower-case DNS name
 * (registry.npmjs.org) or every name under one (*.example.com, which does not match example.com itself).
 * No IP literals, ports or schemes: the rule is about names, and the proxy refuses loopback and the broker
 * whatever name leads there.
 */
export const DomainPattern = z
  .string()
  .max(253)
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/, {
    message: 'a lower-case host name, or *. followed by one (no scheme, port, path or IP address)',
  });
