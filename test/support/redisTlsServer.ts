import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { freePort } from './ports.js';
import { assertRedisServerInstalled, spawnRedisServer, waitForPing, type RedisProcess } from './redisServer.js';
import { tempDir } from './workspace.js';

/**
 * A real `redis-server` that speaks only TLS (`--port 0 --tls-port N`), with a
 * throwaway CA and a server certificate for 127.0.0.1 and localhost made by
 * `openssl` in its temp folder. A second, unrelated CA is made too: trusting
 * it instead of the right one must be refused. It also listens on 127.0.0.2,
 * an address its certificate does not name (the hostname check).
 */
export interface RedisTlsServer extends RedisProcess {
  /** The CA that signed the server certificate (PEM file). */
  readonly caFile: string;
  /** A CA that signed nothing the server presents (PEM file). */
  readonly wrongCaFile: string;
}

/** An address on the loopback that the server certificate does not name (Linux routes all of 127/8 to lo). */
export const UNNAMED_LOOPBACK = '127.0.0.2';

function openssl(cwd: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

/** A self-signed CA (P-256: fast to make), valid for two days. */
function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-nodes',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=session-coordinator test ${name}`,
  ]);
  return { cert, key };
}

/** CA, server certificate (subjectAltName IP:127.0.0.1, DNS:localhost) signed by it, and an unrelated CA. */
export function makeTestCertificates(dir: string): { caFile: string; wrongCaFile: string; certFile: string; keyFile: string } {
  const ca = makeCa(dir, 'ca');
  const wrong = makeCa(dir, 'wrong-ca');
  const keyFile = path.join(dir, 'server.key');
  const csr = path.join(dir, 'server.csr');
  const certFile = path.join(dir, 'server.crt');
  const ext = path.join(dir, 'server.ext');
  writeFileSync(
    ext,
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  openssl(dir, [
    'req',
    '-new',
    '-nodes',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-keyout',
    keyFile,
    '-out',
    csr,
    '-subj',
    '/CN=127.0.0.1',
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    certFile,
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
  return { caFile: ca.cert, wrongCaFile: wrong.cert, certFile, keyFile };
}

export async function startRedisTlsServer(): Promise<RedisTlsServer> {
  assertRedisServerInstalled();
  const folder = tempDir('sc-redis-tls-');
  const certs = makeTestCertificates(folder.path);
  const port = await freePort();
  const args = [
    '--port',
    '0',
    '--tls-port',
    String(port),
    '--bind',
    '127.0.0.1',
    UNNAMED_LOOPBACK,
    '--tls-cert-file',
    certs.certFile,
    '--tls-key-file',
    certs.keyFile,
    '--tls-ca-cert-file',
    certs.caFile,
    '--tls-auth-clients',
    'no',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    folder.path,
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
  ];
  const { child, exited } = spawnRedisServer(args);

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  };
  try {
    await waitForPing(port, 10_000, exited, readFileSync(certs.caFile));
  } catch (e) {
    await stop();
    await folder.remove();
    throw e;
  }
  return {
    port,
    url: `rediss://127.0.0.1:${port}/0`,
    caFile: certs.caFile,
    wrongCaFile: certs.wrongCaFile,
    dir: folder.path,
    get pid() {
      return child.pid;
    },
    stop,
    remove: async () => {
      await stop();
      await folder.remove();
    },
  };
}
