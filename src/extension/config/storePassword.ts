import { parseRedisUrl } from '../../core/store/redis/redisUrl.js';

/**
 * A Redis password saved with "Set Store Password" is kept with the server it
 * was saved for, and sent to that server only (R-SEC-4): a URL that changed
 * since (a setting edited, a profile switched) gets no password. No `vscode`
 * here: the rule is tested under plain Node.
 */
/** The one key the password is kept under in VS Code's secret storage. */
export const STORE_PASSWORD_SECRET = 'sessionCoordinator.store.password';

interface SavedPassword {
  readonly v: 1;
  /** `redis://host:port` or `rediss://host:port`: the scheme too, so TLS is never traded for plain text. */
  readonly server: string;
  readonly password: string;
}

/** The server a store URL points at, or undefined when it is not a Redis URL. */
export function serverOf(url: string): string | undefined {
  try {
    const t = parseRedisUrl(url);
    const host = t.host.includes(':') ? `[${t.host}]` : t.host.toLowerCase();
    return `${t.tls ? 'rediss' : 'redis'}://${host}:${t.port}`;
  } catch {
    return undefined;
  }
}

/** What goes into secret storage for `password`, saved while the store URL is `url`. */
export function savedPassword(url: string, password: string): string {
  const server = serverOf(url);
  if (!server) throw new Error('Set sessionCoordinator.store.url (in your user settings) first: the password is kept for that server only');
  const saved: SavedPassword = { v: 1, server, password };
  return JSON.stringify(saved);
}

/** The password to send to the server `url` names, or why there is none. */
export function passwordFor(url: string, stored: string | undefined): { password?: string; refused?: string } {
  if (!stored) return {};
  const server = serverOf(url);
  if (!server) return {};
  let saved: Partial<SavedPassword> | undefined;
  try {
    saved = JSON.parse(stored) as Partial<SavedPassword>;
  } catch {
    saved = undefined;
  }
  if (saved?.v !== 1 || typeof saved.server !== 'string' || typeof saved.password !== 'string') {
    return {
      refused:
        'The saved store password was saved before passwords were tied to a server; run "Session Coordinator: Set Store Password" again',
    };
  }
  if (saved.server !== server) {
    return {
      refused: `The saved store password is for ${saved.server}, not ${server}: it is not sent there. Run "Session Coordinator: Set Store Password" to save one for ${server}`,
    };
  }
  return { password: saved.password };
}
