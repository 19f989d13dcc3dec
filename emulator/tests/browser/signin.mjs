// Browser sign-in test for the Outpost emulator.
//
// Starts the emulator binary (OUTPOST_EMULATOR_BIN, default ../../../target/debug/outpost-emulator), or uses
// a running one (OUTPOST_EMULATOR_URL), then drives Debian's Chromium through the sign-in pages:
// username + password -> TOTP code (computed here from the user's secret, RFC 6238) -> consent -> redirect to a
// loopback listener, which must receive `code` and the echoed `state`. The code is then redeemed with PKCE
// and the access token is used against the Dataverse Web API (WhoAmI).
//
// Never runs `npx playwright install`: it launches CHROMIUM_PATH (default /usr/bin/chromium).

import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const USER = process.env.OUTPOST_TEST_USER || 'alice@contoso.test';
const TIMEOUT_MS = 60_000;

function log(...a) { console.log('[browser-test]', ...a); }

function b64url(buf) { return Buffer.from(buf).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''); }

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0; const out = [];
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`bad base32 char ${c}`);
    value = (value << 5) | v; bits += 5;
    if (bits >= 8) { bits -= 8; out.push((value >>> bits) & 0xff); }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP: HMAC-SHA1, 30 s step, 6 digits.
function totp(secretBase32, unixSeconds = Math.floor(Date.now() / 1000)) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const off = mac[19] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

async function startEmulator() {
  if (process.env.OUTPOST_EMULATOR_URL) {
    const base = process.env.OUTPOST_EMULATOR_URL.replace(/\/$/, '');
    const info = await (await fetch(`${base}/_emulator/`)).json();
    return { base, info, stop: () => {} };
  }
  const bin = process.env.OUTPOST_EMULATOR_BIN || path.resolve(here, '../../../target/debug/outpost-emulator');
  log('starting', bin);
  const child = spawn(bin, ['--port', '0', '--rows', '100', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('emulator did not print its JSON line')), 30_000);
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) { clearTimeout(timer); resolve(buf.slice(0, nl)); }
    });
    child.on('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  const started = JSON.parse(line);
  const info = await (await fetch(`${started.base_url}/_emulator/`)).json();
  return { base: started.base_url, info, stop: () => child.kill('SIGINT') };
}

function startListener() {
  return new Promise((resolve) => {
    let deliver;
    const received = new Promise((r) => { deliver = r; });
    const server = http.createServer((req, res) => {
      const url = new URL(req.url, 'http://127.0.0.1');
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body><p id="done">Signed in. You can close this window.</p></body></html>');
      if (url.searchParams.has('code') || url.searchParams.has('error')) deliver(url.searchParams);
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port, received }));
  });
}

async function main() {
  const emu = await startEmulator();
  const { base, info } = emu;
  const tenant = info.tenants[0];
  const user = tenant.users.find((u) => u.upn === USER);
  if (!user) throw new Error(`no user ${USER}`);
  const clientId = info.apps[0].client_id;
  const scope = `${info.scope} offline_access openid profile`;
  // Make the consent page appear: revoke the tenant-wide consent first.
  await fetch(`${base}/_emulator/consent`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: clientId, granted: false }) });

  const listener = await startListener();
  const redirectUri = `http://127.0.0.1:${listener.port}/`;
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = `st+/=${b64url(randomBytes(6))}`;
  const authorize = new URL(`${base}/organizations/oauth2/v2.0/authorize`);
  for (const [k, v] of Object.entries({ client_id: clientId, response_type: 'code', redirect_uri: redirectUri, scope, state,
    code_challenge: challenge, code_challenge_method: 'S256', nonce: 'n-browser' })) authorize.searchParams.set(k, v);

  const profile = mkdtempSync(path.join(tmpdir(), 'outpost-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    log('authorize', authorize.toString());
    await page.goto(authorize.toString());
    await page.fill('#i0116', user.upn);
    await page.fill('#i0118', user.password);
    await page.click('#idSIButton9');
    if (user.mfa) {
      await page.waitForSelector('#idTxtBx_SAOTCC_OTC');
      const code = totp(user.totp_secret);
      log('entering TOTP code');
      await page.fill('#idTxtBx_SAOTCC_OTC', code);
      await page.click('#idSubmit_SAOTCC_Continue');
    }
    await page.waitForSelector('#idBtn_Accept');
    log('consent page shown; accepting');
    await page.click('#idBtn_Accept');
    const params = await Promise.race([
      listener.received,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no redirect reached the loopback listener')), TIMEOUT_MS)),
    ]);
    if (params.get('error')) throw new Error(`error redirect: ${params.get('error')} ${params.get('error_description')}`);
    if (params.get('state') !== state) throw new Error(`state not echoed: ${params.get('state')}`);
    const code = params.get('code');
    if (!code) throw new Error('no code');
    await page.waitForSelector('#done');
    log(`redirect reached ${redirectUri} with a code (${code.length} chars)`);

    const tokenRes = await fetch(`${base}/organizations/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
    });
    const tokens = await tokenRes.json();
    if (!tokens.access_token || !tokens.refresh_token || !tokens.id_token) throw new Error(`token redemption failed: ${JSON.stringify(tokens)}`);
    const who = await fetch(`${info.web_api}WhoAmI`, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
    if (who.status !== 200) throw new Error(`WhoAmI answered ${who.status}`);
    log('WhoAmI', JSON.stringify(await who.json()));
    console.log('BROWSER SIGN-IN OK');
  } finally {
    await context.close();
    listener.server.close();
    rmSync(profile, { recursive: true, force: true });
    emu.stop();
  }
}

main().catch((e) => { console.error('[browser-test] FAILED:', e); process.exit(1); });
