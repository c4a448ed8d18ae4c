/**
 * Connection security over real sockets: the WebSocket upgrade's Origin allowlist (403 before the
 * socket opens), client addresses from X-Forwarded-For only behind a trusted proxy, and HTTPS/WSS
 * served directly with a certificate (uWS SSLApp; a self-signed one made with openssl, skipped
 * with a message when openssl is missing).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { auth } from '../../protocol/client/index.ts';
import { decode, encode } from '../../protocol/codec.ts';
import { Op } from '../../protocol/opcodes.ts';
import { signUp, startTestServer, type TestServer } from '../support/test-server.ts';

const PASSWORD = 'correct horse battery staple';

/** Opens a WebSocket with an Origin header; resolves 'open' or the HTTP status of a refused upgrade. */
function upgradeWithOrigin(url: string, origin: string | undefined, opts: WebSocket.ClientOptions = {}): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ...opts, ...(origin !== undefined ? { origin } : {}) });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

describe('Origin allowlist and client addresses', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer('services', { ALLOWED_ORIGINS: 'https://chat.example.test,http://localhost:5173' });
  });
  after(() => server?.dispose());

  test('an upgrade from a foreign Origin gets 403 before the socket opens', async () => {
    for (const origin of ['https://evil.example', 'http://chat.example.test', 'https://chat.example.test.evil.example', 'null']) {
      assert.equal(await upgradeWithOrigin(server.gatewayUrl, origin), 403, origin);
    }
    const health = (await (await fetch(`${server.httpUrl}/health`)).json()) as { connections: number };
    assert.equal(health.connections, 0, 'no connection was ever opened');
  });

  test('allowed origins and clients that send no Origin (non-browsers) connect', async () => {
    assert.equal(await upgradeWithOrigin(server.gatewayUrl, 'https://chat.example.test'), 'open');
    assert.equal(await upgradeWithOrigin(server.gatewayUrl, 'http://localhost:5173'), 'open');
    assert.equal(await upgradeWithOrigin(server.gatewayUrl, undefined), 'open');
    const user = await signUp(server, 'origin');
    const client = await user.connect();
    assert.ok(client.ready);
    await client.close();
  });

  test('without TRUSTED_PROXIES, X-Forwarded-For is ignored', async () => {
    const nickname = `xf${randomBytes(4).toString('hex')}`;
    const email = `${nickname}@example.test`;
    await auth.register(server.httpUrl, { email, password: PASSWORD, nickname });
    const res = await fetch(`${server.httpUrl}/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.50' }, body: JSON.stringify({ email, password: PASSWORD }),
    });
    const { accessToken } = (await res.json()) as { accessToken: string };
    const [session] = await auth.sessions(server.httpUrl, accessToken);
    assert.equal(session!.ip, '127.0.0.1');
  });
});

function makeCertificate(): { dir: string; cert: string; key: string } | null {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'guildhall-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  return { dir, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

const certificate = makeCertificate();
if (!certificate) console.warn('[connection-security.test] openssl not found: TLS tests SKIPPED');

describe('TLS served directly (uWS SSLApp) behind a trusted proxy', { skip: certificate ? false : 'openssl not installed' }, () => {
  let server: TestServer;
  let ca: Buffer;

  before(async () => {
    ca = readFileSync(certificate!.cert);
    server = await startTestServer('embedded', {
      TLS_CERT_FILE: certificate!.cert,
      TLS_KEY_FILE: certificate!.key,
      TRUSTED_PROXIES: '127.0.0.1',
    });
  });
  after(async () => {
    await server?.dispose();
    rmSync(certificate!.dir, { recursive: true, force: true });
  });

  function request(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
    return new Promise((resolve, reject) => {
      const req = https.request(`${server.httpUrl}${path}`, {
        method: body === undefined ? 'GET' : 'POST', ca,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  test('https and wss URLs; the certificate verifies; plain HTTP on the port does not work', async () => {
    assert.match(server.httpUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.gatewayUrl, /^wss:\/\/127\.0\.0\.1:\d+\/gateway$/);
    const health = await request('/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'ok');
    const plain = await fetch(server.httpUrl.replace('https:', 'http:') + '/health').then((r) => r.status, () => 'failed');
    assert.equal(plain, 'failed');
    await assert.rejects(fetch(`${server.httpUrl}/health`), 'without the CA, the self-signed certificate is refused');
  });

  test('register, log in (the proxy-forwarded address is recorded), and chat over WSS', async () => {
    const nickname = `tls${randomBytes(4).toString('hex')}`;
    const email = `${nickname}@example.test`;
    assert.equal((await request('/auth/register', { email, password: PASSWORD, nickname })).status, 201);
    const login = await request('/auth/login', { email, password: PASSWORD }, { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' });
    assert.equal(login.status, 200);
    const sessions = await request('/auth/sessions', undefined, { authorization: `Bearer ${login.json.accessToken}` });
    assert.equal(sessions.json.sessions[0].ip, '203.0.113.7', 'the right-most untrusted hop, not the spoofable left entry');

    const ws = new WebSocket(server.gatewayUrl, { ca });
    const frames: unknown[][] = [];
    const ready = new Promise<unknown[]>((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        const f = decode(new Uint8Array(data)) as unknown[];
        frames.push(f);
        if (f[0] === Op.HELLO) ws.send(encode([Op.IDENTIFY, { token: login.json.accessToken }]));
        if (f[0] === Op.READY) resolve(f);
      });
      ws.on('error', reject);
      ws.on('close', (code) => reject(new Error(`closed ${code}`)));
    });
    const readyFrame = await ready;
    assert.equal((readyFrame[1] as { user: { nickname: string } }).user.nickname, nickname);
    ws.close();
  });
});
