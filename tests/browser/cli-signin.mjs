// End-to-end browser sign-in through the `outpost` CLI.
//
// Starts the emulator binary (OUTPOST_EMULATOR_BIN), creates a vault with `outpost init`, runs
// `outpost --json sign-in --flow browser --no-browser` (which binds its own loopback listener and prints the
// sign-in URL), and drives Debian's headless Chromium through the emulator's pages: username + password ->
// TOTP code (RFC 6238, computed here from the user's secret) -> redirect to the CLI's listener. The CLI must
// then exit 0, and `outpost status` must show the account in the vault.
//
// Never runs `npx playwright install`: it launches CHROMIUM_PATH (default /usr/bin/chromium).

import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const EMULATOR = process.env.OUTPOST_EMULATOR_BIN;
const OUTPOST = process.env.OUTPOST_BIN;
const USER = 'alice@contoso.test';
const TIMEOUT_MS = 60_000;
const OFFLINE_PASSWORD = 'browser-test offline password';

function log(...a) { console.log('[cli-browser-test]', ...a); }

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

function totp(secretBase32, unixSeconds = Math.floor(Date.now() / 1000)) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const off = mac[19] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

function firstLine(stream, what) {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: stream });
    const timer = setTimeout(() => reject(new Error(`${what} printed nothing`)), 30_000);
    rl.once('line', (line) => { clearTimeout(timer); resolve({ line, rl }); });
  });
}

async function startEmulator() {
  const child = spawn(EMULATOR, ['--port', '0', '--rows', '100', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { line } = await firstLine(child.stdout, 'the emulator');
  return { info: JSON.parse(line), stop: () => child.kill('SIGINT') };
}

function outpost(db, args) {
  const r = spawnSync(OUTPOST, ['--db', db, ...args], {
    env: { ...process.env, OUTPOST_PASSWORD: OFFLINE_PASSWORD, DISPLAY: '', WAYLAND_DISPLAY: '' },
    encoding: 'utf8', timeout: TIMEOUT_MS,
  });
  if (r.status !== 0) throw new Error(`outpost ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

async function main() {
  if (!EMULATOR || !OUTPOST) throw new Error('set OUTPOST_EMULATOR_BIN and OUTPOST_BIN');
  const emu = await startEmulator();
  const { info } = emu;
  const user = info.users.find((u) => u.upn === USER);
  const work = mkdtempSync(path.join(tmpdir(), 'outpost-cli-browser-'));
  const db = path.join(work, 'vault');
  const profile = path.join(work, 'chromium');
  let context;
  let cli;
  try {
    outpost(db, ['init', '--org', info.org_url, '--client-id', info.client_id, '--authority', info.authority,
      '--redirect-uri', 'http://127.0.0.1']);
    log('vault created');

    cli = spawn(OUTPOST, ['--db', db, '--json', 'sign-in', '--flow', 'browser', '--no-browser', '--timeout', '60'], {
      env: { ...process.env, OUTPOST_PASSWORD: OFFLINE_PASSWORD, DISPLAY: '', WAYLAND_DISPLAY: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => cli.on('exit', (code) => resolve(code)));
    const { line, rl } = await firstLine(cli.stdout, 'outpost sign-in');
    const url = JSON.parse(line).sign_in_url;
    if (!url) throw new Error(`no sign_in_url in ${line}`);
    const redirect = new URL(url).searchParams.get('redirect_uri');
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(redirect)) throw new Error(`unexpected redirect_uri ${redirect}`);
    log('the CLI listens on', redirect);
    const result = new Promise((resolve) => rl.once('line', resolve));

    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    await page.goto(url);
    await page.fill('#i0116', user.upn);
    await page.fill('#i0118', user.password);
    await page.click('#idSIButton9');
    await page.waitForSelector('#idTxtBx_SAOTCC_OTC');
    log('MFA page: entering the TOTP code');
    await page.fill('#idTxtBx_SAOTCC_OTC', totp(user.totp_secret));
    await page.click('#idSubmit_SAOTCC_Continue');
    await page.waitForFunction(() => document.body && document.body.innerText.includes('You can close this tab'));
    log('the browser landed on the CLI\'s loopback page');

    const code = await Promise.race([exited,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the CLI did not exit')), TIMEOUT_MS))]);
    if (code !== 0) throw new Error(`outpost sign-in exited ${code}`);
    const signedIn = JSON.parse(await result);
    if (signedIn.username !== USER) throw new Error(`signed in as ${signedIn.username}`);

    const status = JSON.parse(outpost(db, ['--json', 'status']));
    if (!status.signed_in || status.account?.username !== USER) throw new Error(`status: ${JSON.stringify(status)}`);
    log('vault account:', status.account.username, 'tenant', status.account.tenant_id);
    console.log('CLI BROWSER SIGN-IN OK');
  } finally {
    if (context) await context.close();
    if (cli && cli.exitCode === null) cli.kill('SIGKILL');
    emu.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error('[cli-browser-test] FAILED:', e); process.exit(1); });
