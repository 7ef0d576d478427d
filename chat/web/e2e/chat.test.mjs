// End-to-end test of ringchat's web page, in real headless Chromium (Debian's
// /usr/bin/chromium) driven by playwright-core, against the real server and
// terminal client binaries. Run it through run.sh, which installs Chromium
// and playwright-core, builds the binaries into $RINGCHAT_BIN and calls
// `node chat.test.mjs`.
//
// Two browser users chat: alice on the server's own address, bob through a
// small TCP proxy of this test, which can refuse connections — bob's network
// failing — so that bob deterministically misses what is said while the
// server restarts. Every wait is bounded; the run cleans up after itself,
// pass or fail, and saves screenshots, the server's log and the clients'
// output in artifacts/ when a step fails.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(here, 'artifacts');
const BIN = process.env.RINGCHAT_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 10_000;          // any single expectation
const RECONNECT_WAIT = 25_000; // a page coming back after the server restarted
const startedAt = Date.now();
// What a page says when a room's history began again (a gap event, missed 0):
// never, here, for the server keeps its history on disk across restarts.
const RESTARTED = 'The history of #lobby began again on the server';
// The server's data directory, kept across its restart, as an operator's is.
const DATA = mkdtempSync(path.join(os.tmpdir(), 'ringchat-e2e-'));

if (!BIN) {
  console.error('chat.test.mjs: RINGCHAT_BIN is not set; run ./run.sh, which builds the server and client');
  process.exit(2);
}

// ---- Processes: the server, the terminal client, the proxy --------------------

const children = new Set();

function track(proc) {
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  return proc;
}

// Whatever happens, no server or client outlives the test.
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(DATA, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(1));
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

function exited(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

const serverLogs = [];

// startServer runs the server on port (0: any free port) and resolves once it
// listens, with the port it chose.
async function startServer(port = 0) {
  const proc = track(spawn(path.join(BIN, 'server'), ['-addr', `127.0.0.1:${port}`, '-log-level', 'debug', '-data', DATA], {
    stdio: ['ignore', 'ignore', 'pipe'],
  }));
  const log = { proc, text: '' };
  serverLogs.push(log);
  const listening = new Promise((resolve, reject) => {
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      log.text += chunk;
      const m = /web=http:\/\/127\.0\.0\.1:(\d+)\//.exec(log.text);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${log.text}`)));
  });
  const actual = await withTimeout(listening, WAIT, 'the server to listen');
  return { proc, port: actual };
}

// stopServer ends it as an operator would: SIGTERM, which closes every
// connection with 1001.
async function stopServer(srv) {
  srv.proc.kill('SIGTERM');
  try {
    await withTimeout(exited(srv.proc), 8000, 'the server to stop');
  } catch (err) {
    srv.proc.kill('SIGKILL');
    throw err;
  }
}

const clientLogs = [];

// startClient runs cmd/client with piped stdin; lines written to it are sent.
function startClient(port, name, room = 'lobby') {
  const proc = track(spawn(path.join(BIN, 'client'), ['-url', `ws://127.0.0.1:${port}/ws`, '-name', name, '-room', room], {
    stdio: ['pipe', 'pipe', 'pipe'],
  }));
  const out = { name, stdout: '', stderr: '' };
  clientLogs.push(out);
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (c) => { out.stdout += c; });
  proc.stderr.on('data', (c) => { out.stderr += c; });
  return {
    proc,
    out,
    say(line) { proc.stdin.write(`${line}\n`); },
    async waitFor(re, what) {
      const deadline = Date.now() + WAIT;
      while (!re.test(out.stdout)) {
        if (Date.now() > deadline) throw new Error(`terminal client ${name} never printed ${what} (${re}); it printed:\n${out.stdout}\n${out.stderr}`);
        if (proc.exitCode !== null) throw new Error(`terminal client ${name} exited ${proc.exitCode}:\n${out.stdout}\n${out.stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    // finish ends the input: the client waits for its messages to come back,
    // then exits; 0 means every one did.
    async finish() {
      proc.stdin.end();
      const code = await withTimeout(exited(proc), 15_000, `terminal client ${name} to exit`);
      assert.equal(code, 0, `terminal client ${name} exit status; stderr:\n${out.stderr}`);
    },
  };
}

// startProxy forwards TCP connections to the server's port until block()
// makes it refuse new ones: for the page behind it, the network is down.
async function startProxy(targetPort) {
  let blocked = false;
  const sockets = new Set();
  const server = net.createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    sockets.add(client);
    sockets.add(upstream);
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    block() { blocked = true; },
    unblock() { blocked = false; },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

// ---- Browser pages --------------------------------------------------------------

const problems = []; // console errors, page errors and dialogs, checked at the end
let restartWindow = false;

// While the server restarts (or bob's network is down) a page's attempts to
// reconnect fail, and Chromium logs each failed WebSocket handshake as a
// console error it is not possible to suppress from the page. Exactly that
// message, for the page's own chat URL, is allowed during that window and
// nowhere else; any other console error, at any time, fails the test.
const FAILED_WS = /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws\?[^']*' failed/;

function watch(page, who) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (restartWindow && FAILED_WS.test(text)) return;
    problems.push(`${who}: console error: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`${who}: uncaught exception: ${err.message}`));
  page.on('dialog', (d) => {
    problems.push(`${who}: a ${d.type()} dialog opened: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.setDefaultTimeout(WAIT);
}

// openChat loads the page, answers the name dialog with the keyboard and
// waits for the connection.
async function openChat(context, url, name, who) {
  const page = await context.newPage();
  watch(page, who);
  await page.goto(url);
  const nameInput = page.getByLabel('Display name');
  await nameInput.waitFor();
  await nameInput.pressSequentially(name);
  await page.keyboard.press('Enter');
  await waitConnected(page);
  return page;
}

async function waitConnected(page, timeout = WAIT) {
  await page.locator('#status[data-state="connected"]').waitFor({ timeout });
}

// assertCompressed checks that the page's connection runs with
// permessage-deflate: Chromium offers it, and the server takes it.
async function assertCompressed(page, who) {
  const ext = await page.locator('#status').getAttribute('data-extensions');
  assert.match(ext ?? '', /^permessage-deflate(;|$)/, `${who}'s connection: extensions ${JSON.stringify(ext)}`);
}

// metric reads one counter of the server's /metrics.
async function metric(port, name) {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = body.match(new RegExp(`^${name} (\\d+)$`, 'm'));
  assert.ok(m, `/metrics lacks ${name}`);
  return Number(m[1]);
}

// LONG is a message long enough that the server compresses it.
const LONG = 'A long message, so that it goes compressed: ' +
  'the quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly, '.repeat(6) + 'The end.';

function composer(page) {
  return page.getByLabel(/^Message #/);
}

// say types a line into the message box and presses Enter, as a person does.
async function say(page, text) {
  const box = composer(page);
  await box.fill(text);
  await box.press('Enter');
}

// entries lists the lines of the room shown: id, epoch, class, sender, text.
function entries(page) {
  return page.evaluate(() => [...document.querySelectorAll('.room-view:not([hidden]) .log > .item')].map((li) => ({
    id: li.dataset.id || '',
    epoch: li.dataset.epoch || '',
    cls: li.className,
    from: li.querySelector('.from')?.textContent ?? '',
    text: li.querySelector('.text')?.textContent ?? '',
    time: li.querySelector('time')?.dateTime ?? '',
  })));
}

// waitForLine waits until the room shown has a line whose text is exactly
// text (optionally of a class: msg, me, notice, …) and returns it.
async function waitForLine(page, text, cls = '', timeout = WAIT) {
  await page.waitForFunction(([t, c]) => [...document.querySelectorAll('.room-view:not([hidden]) .log > .item')]
    .some((li) => (!c || li.classList.contains(c)) && li.querySelector('.text')?.textContent === t), [text, cls], { timeout })
    .catch(async (err) => {
      const have = (await entries(page)).map((e) => `  [${e.cls}] ${e.from}: ${JSON.stringify(e.text)}`).join('\n');
      throw new Error(`no line ${JSON.stringify(text)}${cls ? ` (.${cls})` : ''} within ${timeout} ms; the log has:\n${have}\n(${err.message.split('\n')[0]})`);
    });
  return (await entries(page)).find((e) => e.text === text && (!cls || e.cls.split(' ').includes(cls)));
}

async function countLines(page, text) {
  return (await entries(page)).filter((e) => e.text === text).length;
}

// assertNoDuplicates checks that no room event is shown twice: the (epoch,
// id) pairs of the log are unique, and so is each text the test sent.
async function assertNoDuplicates(page, who, texts) {
  const list = await entries(page);
  const seen = new Set();
  for (const e of list) {
    if (!e.id) continue;
    const key = `${e.epoch}/${e.id}`;
    assert.ok(!seen.has(key), `${who}: event ${key} shown twice`);
    seen.add(key);
  }
  for (const t of texts) {
    assert.equal(list.filter((e) => e.text === t).length, 1, `${who}: ${JSON.stringify(t)} should be shown exactly once`);
  }
}

// ---- The test ------------------------------------------------------------------

let server;
let proxy;
let browser;
const pages = {};
const sent = []; // texts of every message sent so far, each unique

after(async () => {
  await browser?.close().catch(() => {});
  proxy?.close();
  for (const c of children) c.kill('SIGKILL');
  console.log(`# browser test: ${((Date.now() - startedAt) / 1000).toFixed(1)} s including Chromium start-up`);
});

test('the web page in Chromium', { timeout: 150_000 }, async (t) => {
  server = await startServer();
  proxy = await startProxy(server.port);
  const direct = `http://127.0.0.1:${server.port}/`;
  const proxied = `http://127.0.0.1:${proxy.port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Flags this machine's closed network needs (see run.sh).
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  const viewport = { width: 1100, height: 680 };
  const aliceCtx = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'UTC' });
  const bobCtx = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'UTC' });

  let failed = false;
  // step runs one part; after a failure it saves the evidence, and the
  // later parts, which build on it, are skipped.
  async function step(name, fn) {
    await t.test(name, { skip: failed && 'an earlier step failed' }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        await saveEvidence(name);
        throw err;
      }
    });
  }

  await step('the server serves the page with its security headers', async () => {
    const res = await fetch(direct);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(await res.text(), /<script src="\/app\.js" defer><\/script>/);
  });

  await step('two browser users chat both ways', async () => {
    pages.alice = await openChat(aliceCtx, direct, 'alice', 'alice');
    pages.bob = await openChat(bobCtx, proxied, 'bob', 'bob');
    const { alice, bob } = pages;
    await waitForLine(alice, 'bob joined #lobby', 'notice');
    // Who is here, in the sidebar.
    await alice.locator('#people li', { hasText: 'bob' }).waitFor();
    await bob.locator('#people li', { hasText: 'alice' }).waitFor();

    await say(alice, 'hello bob');
    sent.push('hello bob');
    const got = await waitForLine(bob, 'hello bob', 'msg');
    assert.equal(got.from, 'alice');
    assert.ok(!Number.isNaN(Date.parse(got.time)), `message time ${got.time}`);
    await say(bob, 'hi alice');
    sent.push('hi alice');
    assert.equal((await waitForLine(alice, 'hi alice', 'msg')).from, 'bob');

    // Both connections compress, and a long message arrives whole,
    // compressed once for both of them.
    await assertCompressed(alice, 'alice');
    await assertCompressed(bob, 'bob');
    const before = await metric(server.port, 'ringchat_compressed_events_total');
    await say(alice, LONG);
    sent.push(LONG);
    await waitForLine(bob, LONG, 'msg');
    await waitForLine(alice, LONG, 'msg');
    assert.equal(await metric(server.port, 'ringchat_compressed_events_total'), before + 1, 'the long message compressed once');
    // Own messages come back as the acknowledgement: nothing left pending.
    await waitForLine(alice, 'hello bob', 'msg');
    await alice.locator('.pending-list .item').first().waitFor({ state: 'detached' });

    // Shift+Enter is a new line in one message; Enter sends.
    const box = composer(alice);
    await box.focus();
    await alice.keyboard.type('line one');
    await alice.keyboard.press('Shift+Enter');
    await alice.keyboard.type('line two');
    await alice.keyboard.press('Enter');
    sent.push('line one\nline two');
    await waitForLine(bob, 'line one\nline two', 'msg');
    assert.equal(await box.inputValue(), '', 'the message box is empty after sending');

    // /me and the commands answered by the server.
    await say(bob, '/me waves');
    await waitForLine(alice, '* bob waves', 'me');
    await say(alice, '/who');
    await waitForLine(alice, 'In #lobby (2): alice, bob', 'who');
    await say(alice, '/frobnicate');
    await waitForLine(alice, 'unknown command /frobnicate; /help lists the commands', 'error');
    await say(alice, '//slash at the start');
    sent.push('/slash at the start');
    await waitForLine(bob, '/slash at the start', 'msg');
  });

  let term;
  await step('a terminal client and the browsers see each other', async () => {
    const { alice, bob } = pages;
    // Its name is markup, too: names are text like everything else.
    term = startClient(server.port, '<b>term</b>');
    await waitForLine(alice, '<b>term</b> joined #lobby', 'notice');
    await waitForLine(bob, '<b>term</b> joined #lobby', 'notice');
    await say(alice, 'hello terminal');
    sent.push('hello terminal');
    await term.waitFor(/\] alice: hello terminal$/m, "alice's message");
    term.say('hello browsers');
    sent.push('hello browsers');
    for (const p of [alice, bob]) {
      assert.equal((await waitForLine(p, 'hello browsers', 'msg')).from, '<b>term</b>');
    }
    await term.finish();
    await waitForLine(alice, '<b>term</b> left #lobby', 'notice');
  });

  await step('markup and script in messages show as text and run nothing', async () => {
    const { alice, bob } = pages;
    const payloads = [
      '<img src=x onerror=alert(1)>',
      '<script>window.__pwned = 1</script><b>bold?</b><img src=x onerror="window.__pwned = 2">',
      '"><svg onload=alert(3)>&lt;&amp;',
    ];
    for (const p of payloads) {
      await say(alice, p);
      sent.push(p);
    }
    for (const page of [alice, bob]) {
      for (const p of payloads) await waitForLine(page, p, 'msg');
      assert.equal(await page.locator('#logs img, #logs script, #logs svg, #logs b, #people b').count(), 0, 'no element made from message text');
      assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
    }
  });

  await step('stays at the newest message unless the user scrolled up', async () => {
    const { alice, bob } = pages;
    const long = Array.from({ length: 40 }, (_, i) => `row ${i + 1}`).join('\n');
    await say(bob, long);
    sent.push(long);
    await waitForLine(alice, long, 'msg');
    const atEnd = () => alice.evaluate(() => {
      const l = document.getElementById('logs');
      return l.scrollHeight - l.scrollTop - l.clientHeight < 2;
    });
    assert.ok(await atEnd(), 'alice sees the newest message');
    await alice.evaluate(() => { document.getElementById('logs').scrollTop = 0; });
    await say(bob, 'said while alice reads back');
    sent.push('said while alice reads back');
    await waitForLine(alice, 'said while alice reads back', 'msg');
    assert.equal(await alice.evaluate(() => document.getElementById('logs').scrollTop), 0, 'the view stays where alice scrolled');
    const jump = alice.getByRole('button', { name: /New messages below/ });
    await jump.waitFor();
    await jump.press('Enter');
    await alice.waitForFunction(() => {
      const l = document.getElementById('logs');
      return l.scrollHeight - l.scrollTop - l.clientHeight < 2;
    });
    await jump.waitFor({ state: 'hidden' });
  });

  await step('the title counts unread messages while the tab is hidden', async () => {
    const { alice, bob } = pages;
    const setHidden = (hidden) => alice.evaluate((h) => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
    assert.equal(await alice.title(), '#lobby · ringchat');
    await setHidden(true);
    await say(bob, 'unread one');
    await say(bob, 'unread two');
    sent.push('unread one', 'unread two');
    await alice.waitForFunction(() => document.title === '(2) #lobby · ringchat');
    await setHidden(false);
    await alice.waitForFunction(() => document.title === '#lobby · ringchat');
  });

  await step('a room switched away from resumes where it was left', async () => {
    const { alice, bob } = pages;
    await say(alice, '/join #Side');
    await alice.locator('#room-title', { hasText: '#side' }).waitFor();
    await waitConnected(alice);
    await waitForLine(bob, 'alice left #lobby', 'notice');
    await say(alice, 'alone in side');
    await waitForLine(alice, 'alone in side', 'msg');
    await say(bob, 'said while alice was in side');
    sent.push('said while alice was in side');
    // Back with the keyboard: the room list is a list of buttons.
    await alice.getByRole('button', { name: '#lobby', exact: true }).focus();
    await alice.keyboard.press('Enter');
    await alice.locator('#room-title', { hasText: '#lobby' }).waitFor();
    await waitConnected(alice);
    await waitForLine(alice, 'said while alice was in side', 'msg');
    await waitForLine(alice, 'alice joined #lobby', 'notice');
    await assertNoDuplicates(alice, 'alice', sent);
    assert.equal(await countLines(alice, 'alone in side'), 0, "#side's message is not in #lobby");
  });

  await step('after a server restart the pages reconnect and show what they missed, once', async () => {
    const { alice, bob } = pages;
    restartWindow = true;
    proxy.block(); // bob's network is down until the others have talked
    await stopServer(server);
    for (const p of [alice, bob]) {
      await p.locator('#status[data-state="reconnecting"], #status[data-state="offline"]').waitFor();
    }
    server = await startServer(server.port);
    // alice comes back by herself, with backoff, and the room's history is
    // the same: nothing restarted, nothing to announce.
    await waitConnected(alice, RECONNECT_WAIT);
    // Said while bob is away: by a terminal client and by alice.
    const oneShot = startClient(server.port, 'term2');
    oneShot.say('said after the restart');
    await oneShot.finish();
    sent.push('said after the restart');
    await say(alice, 'alice after the restart');
    sent.push('alice after the restart');
    await waitForLine(alice, 'said after the restart', 'msg');
    await waitForLine(alice, 'alice after the restart', 'msg');
    assert.notEqual(await bob.locator('#status').getAttribute('data-state'), 'connected', 'bob is still away');
    assert.equal(await countLines(bob, 'said after the restart'), 0);

    proxy.unblock();
    const retry = bob.getByRole('button', { name: 'Reconnect now' });
    if (await retry.isVisible()) await retry.click().catch(() => {}); // else it is trying already
    await waitConnected(bob, RECONNECT_WAIT);
    restartWindow = false;
    await waitForLine(bob, 'said after the restart', 'msg');
    await waitForLine(bob, 'alice after the restart', 'msg');
    // And both can still talk.
    await say(bob, 'bob is back');
    sent.push('bob is back');
    await waitForLine(alice, 'bob is back', 'msg');
    await waitForLine(bob, 'bob is back', 'msg');
    // The new connections compress too.
    for (const [p, who] of [[alice, 'alice'], [bob, 'bob']]) await assertCompressed(p, who);
    const long2 = 'after the restart: ' + LONG;
    await say(bob, long2);
    sent.push(long2);
    await waitForLine(alice, long2, 'msg');
    await waitForLine(bob, long2, 'msg');
    await assertNoDuplicates(alice, 'alice', sent);
    await assertNoDuplicates(bob, 'bob', sent);
    for (const p of [alice, bob]) assert.equal(await countLines(p, RESTARTED), 0, 'a restart with the history on disk is not announced as lost history');
  });

  await step('/nick renames; a reload remembers the name and shows the recent history', async () => {
    const { alice, bob } = pages;
    await say(bob, '/nick robert');
    await waitForLine(alice, 'bob is now known as robert', 'notice');
    await bob.locator('#me-name', { hasText: 'robert' }).waitFor();
    await alice.locator('#people li', { hasText: 'robert' }).waitFor();
    await bob.reload();
    await waitConnected(bob);
    assert.equal(await bob.locator('#name-dialog').isVisible(), false, 'no name asked again');
    // The tab's session came back with the reload: the server hands the
    // old connection's name over even if it still holds that connection.
    assert.equal(await bob.locator('#me-name').textContent(), 'robert');
    // A fresh page asks for the room's last 100 events: the conversation
    // from before the restart too, once, as scrollback.
    for (const t of [sent[0], 'said after the restart', 'alice after the restart', 'bob is back']) {
      await waitForLine(bob, t, 'msg');
    }
    await assertNoDuplicates(bob, 'bob after reload', sent);
  });

  await step('usable at phone width, with the keyboard, with labels', async () => {
    const { bob } = pages;
    await bob.setViewportSize({ width: 360, height: 740 });
    const layout = await bob.evaluate(() => {
      const box = document.getElementById('composer-input').getBoundingClientRect();
      return { scrollWidth: document.documentElement.scrollWidth, composerBottom: box.bottom, composerRight: box.right };
    });
    assert.ok(layout.scrollWidth <= 360, `no sideways scrolling at 360 px (scrollWidth ${layout.scrollWidth})`);
    assert.ok(layout.composerBottom <= 740 && layout.composerRight <= 360, 'the message box is on screen');
    // The rooms drawer opens and closes from the keyboard.
    const menu = bob.getByRole('button', { name: 'Rooms' });
    await menu.focus();
    await bob.keyboard.press('Enter');
    await bob.getByLabel('Join a room').waitFor();
    await bob.keyboard.press('Escape');
    await bob.getByLabel('Join a room').waitFor({ state: 'hidden' });
    // Every field has a label; every button a name.
    const unnamed = await bob.evaluate(() => [
      ...[...document.querySelectorAll('input, textarea')].filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label')).map((e) => e.id),
      ...[...document.querySelectorAll('button')].filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim())).map((b) => b.id || b.className),
    ]);
    assert.deepEqual(unnamed, [], 'fields without labels, buttons without names');
  });

  await step('no console errors, page errors or dialogs', async () => {
    assert.deepEqual(problems, []);
  });

  // Pictures of the result, for people reviewing a change of the page.
  mkdirSync(ARTIFACTS, { recursive: true });
  await pages.alice?.screenshot({ path: path.join(ARTIFACTS, 'desktop.png') }).catch(() => {});
  await pages.bob?.screenshot({ path: path.join(ARTIFACTS, 'phone.png') }).catch(() => {});
});

// saveEvidence writes screenshots of every page, the server's log and the
// terminal clients' output to artifacts/.
async function saveEvidence(stepName) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const slug = stepName.replace(/[^a-z0-9]+/gi, '-').slice(0, 50);
  for (const [who, page] of Object.entries(pages)) {
    await page.screenshot({ path: path.join(ARTIFACTS, `${slug}-${who}.png`), fullPage: true }).catch(() => {});
  }
  writeFileSync(path.join(ARTIFACTS, `${slug}-server.log`), serverLogs.map((l) => l.text).join('\n--- restart ---\n'));
  writeFileSync(path.join(ARTIFACTS, `${slug}-clients.log`), clientLogs.map((c) => `== ${c.name}\n${c.stdout}\n-- stderr\n${c.stderr}`).join('\n'));
  writeFileSync(path.join(ARTIFACTS, `${slug}-console.log`), problems.join('\n'));
  console.error(`# evidence saved in ${ARTIFACTS}/${slug}-*`);
}
