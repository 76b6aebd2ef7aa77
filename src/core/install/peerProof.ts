import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';

/**
 * Before a client (connect, status, the edit hook) sends the bearer token to
 * the URL a discovery file names, the process there proves it holds the same
 * token: it answers a fresh nonce with an HMAC keyed by the token's digest.
 * A process that took over a dead participant's port (or a forged file) learns
 * nothing and gets no token (R-SEC-5).
 */
export const PROOF_PATH = '/proof';

/** The names our endpoint binds and answers to: a discovery file naming anything else is not ours. */
export const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function isLoopbackUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && LOOPBACK_NAMES.has(u.hostname);
  } catch {
    return false;
  }
}

export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** What the endpoint answers for a nonce: an HMAC keyed by the token's digest, so the token never travels. */
export function proofOf(digest: Buffer, nonce: string): string {
  return createHmac('sha256', digest).update(`session-coordinator peer proof ${nonce}`).digest('hex');
}

export const NONCE = /^[0-9a-f]{32,128}$/;

/** Resolves when the participant at `url` proved it holds `token`; rejects, saying why, otherwise. */
export function provePeer(url: string, token: string, timeoutMs = 2_000): Promise<void> {
  if (!isLoopbackUrl(url)) return Promise.reject(new Error(`${url} is not a loopback address; the token is never sent there`));
  const nonce = randomBytes(16).toString('hex');
  const expected = Buffer.from(proofOf(tokenDigest(token), nonce), 'hex');
  const target = new URL(`${PROOF_PATH}?nonce=${nonce}`, url);
  return new Promise((resolve, reject) => {
    const refuse = (why: string): void =>
      reject(new Error(`the process at ${url} did not prove it is a participant of this install (${why}); the token was not sent`));
    const req = http.get(target, { timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        if (text.length > 4096) req.destroy(new Error('an answer too long'));
      });
      res.on('end', () => {
        let proof: unknown;
        try {
          proof = (JSON.parse(text) as { proof?: unknown }).proof;
        } catch {
          return refuse(`HTTP ${res.statusCode}, not a proof`);
        }
        const got = typeof proof === 'string' && /^[0-9a-f]{64}$/.test(proof) ? Buffer.from(proof, 'hex') : undefined;
        if (res.statusCode === 200 && got && timingSafeEqual(got, expected)) resolve();
        else refuse('a wrong proof');
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => refuse(e.message));
  });
}
