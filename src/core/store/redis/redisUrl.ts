import { isIP } from 'node:net';
import type { RedisOptions } from 'ioredis';
import { CoordinatorError } from '../../errors.js';

/** A store URL as users write it: `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. */
export interface RedisTarget {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
}

export const DEFAULT_REDIS_PORT = 6379;

export function isRedisUrl(url: string): boolean {
  return /^rediss?:\/\//i.test(url.trim());
}

/** Parses a store URL; the error never repeats the password. */
export function parseRedisUrl(url: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new CoordinatorError(
      'InvalidArgument',
      `Store URL ${redactRedisUrl(url)} is not a URL; use redis://[:password@]host:port/db or rediss://... for TLS`,
      { url: redactRedisUrl(url) },
    );
  }
  const protocol = parsed.protocol.toLowerCase();
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new CoordinatorError(
      'InvalidArgument',
      `Store URL ${redactRedisUrl(url)} is not a Redis URL; use redis://host:port/db or rediss://host:port/db`,
      { url: redactRedisUrl(url) },
    );
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new CoordinatorError('InvalidArgument', `Store URL ${redactRedisUrl(url)} names no host`, { url: redactRedisUrl(url) });
  const port = parsed.port ? Number(parsed.port) : DEFAULT_REDIS_PORT;
  const dbText = parsed.pathname.replace(/^\/+|\/+$/g, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || !/^\d*$/.test(dbText)) {
    throw new CoordinatorError('InvalidArgument', `Store URL ${redactRedisUrl(url)}: the database must be a number (redis://host:port/0)`, {
      url: redactRedisUrl(url),
    });
  }
  const username = parsed.username ? decodeURIComponent(parsed.username) : undefined;
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  return { tls: protocol === 'rediss:', host, port, db, ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

/**
 * For logs, status and errors: the URL with its credentials removed, whatever
 * characters the password holds (an unescaped '@' or '/' included): everything
 * between the scheme and the last '@' goes (R-SEC-5).
 */
export function redactRedisUrl(url: string): string {
  const trimmed = url.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(trimmed);
  const rest = scheme ? trimmed.slice(scheme[0].length) : trimmed;
  const at = rest.lastIndexOf('@');
  if (at < 0) return trimmed;
  return `${scheme?.[0] ?? ''}${rest.slice(at + 1)}`;
}

/** `redis://host:port/db`, never with credentials. */
export function describeTarget(target: RedisTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.tls ? 'rediss' : 'redis'}://${host}:${target.port}/${target.db}`;
}

/** ioredis connection options for a target; `password` (from a secret store) wins over the URL's. */
export function connectionOptions(target: RedisTarget, password?: string): RedisOptions {
  const secret = password ?? target.password;
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username ? { username: target.username } : {}),
    ...(secret ? { password: secret } : {}),
    // SNI takes host names only (RFC 6066); for an IP, Node still checks the certificate against it.
    ...(target.tls ? { tls: isIP(target.host) ? {} : { servername: target.host } } : {}),
  };
}
