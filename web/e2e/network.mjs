// End-to-end check of the web UI's Network page against a running agent
// with the flows, dns and drops collectors, in headless Chromium
// (Debian's, driven by playwright-core).
//
//   KSCOPE_URL       the agent (required)
//   KSCOPE_OUT       directory for screenshots (default: a new temp dir)
//   KSCOPE_COMM      a command that moved TCP traffic: a top talker
//   KSCOPE_REMOTE    the remote endpoint (address:port) it talked to
//   KSCOPE_FAILNAME  a DNS name it asked for and got NXDOMAIN
//   KSCOPE_SLOWNAME  a DNS name it asked for and got an answer
//   KSCOPE_DROP      a drop reason the kernel gave its packets
//   KSCOPE_FILTER    a kscope net filter applied on the host (optional)
//   KSCOPE_FILTER_RULE  a rule of it that matched packets
//   CHROMIUM         the browser (default /usr/bin/chromium)
//
// Exit status 0 when every check passed; otherwise 1, naming the failed
// checks (a screenshot of each failure is saved as fail-*.png).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.KSCOPE_URL;
if (!base) {
  console.error('network.mjs: set KSCOPE_URL to the agent (http://127.0.0.1:9464)');
  process.exit(2);
}
const out = process.env.KSCOPE_OUT || mkdtempSync(join(tmpdir(), 'kscope-web-network-'));
mkdirSync(out, { recursive: true });
const env = (k) => process.env[k] || '';
const timeout = 20000;

const profile = mkdtempSync(join(tmpdir(), 'kscope-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: env('CHROMIUM') || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
  colorScheme: 'dark',
});
const results = [];
const pageErrors = [];
const page = ctx.pages()[0] ?? (await ctx.newPage());
page.setDefaultTimeout(timeout);
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => {
  if (m.type() === 'error' && !/EventSource|net::ERR_ABORTED|Failed to load resource/.test(m.text())) pageErrors.push('console: ' + m.text());
});

async function check(name, f) {
  const t0 = Date.now();
  try {
    await f();
    results.push({ name, ok: true });
    console.log(`ok    ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, error: String(e.message ?? e).split('\n')[0] });
    console.log(`FAIL  ${name}: ${String(e.message ?? e).split('\n').slice(0, 3).join(' | ')}`);
    await page.screenshot({ path: join(out, `fail-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {});
  }
}

// waitRow waits until the table's row that holds every one of texts shows,
// pressing the refresh button every few seconds: the agent stores what the
// page asks for in its own time.
async function waitRow(testid, ...texts) {
  const deadline = Date.now() + timeout;
  for (;;) {
    let rows = page.locator(`[data-testid="${testid}"] tbody tr`);
    for (const t of texts) rows = rows.filter({ hasText: t });
    try {
      await rows.first().waitFor({ timeout: 3000 });
      return rows.first();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${testid}: no row with ${texts.join(', ')}: ${(await page.locator(`[data-testid="${testid}"]`).innerText().catch(() => '')).slice(0, 300)}`);
      await page.click('[data-testid="refresh-now"]');
    }
  }
}

await check('network', async () => {
  await page.goto(base + '/network?range=15m', { waitUntil: 'domcontentloaded' });
  await page.locator('[data-testid="nav-network"].active').waitFor();
  const comm = env('KSCOPE_COMM');
  const talker = await waitRow('talkers-table', comm);
  const cells = await talker.locator('td').allInnerTexts();
  if (!cells.some((c) => /[KMG]?i?B\/s/.test(c))) throw new Error(`top talker ${comm}: no bytes/s in ${cells.join(' | ')}`);
  await waitRow('endpoints-table', comm, env('KSCOPE_REMOTE'));
  const failing = await waitRow('dns-failing', env('KSCOPE_FAILNAME'));
  const ft = await failing.innerText();
  if (!ft.includes('NXDOMAIN') || !ft.includes(comm)) throw new Error(`failing name row: ${ft}`);
  const slow = await waitRow('dns-slowest', env('KSCOPE_SLOWNAME'));
  if (!(await slow.innerText()).match(/\d+(\.\d+)?\s*(ns|µs|ms|s)/)) throw new Error(`slowest name row without a latency: ${await slow.innerText()}`);
  const drops = await waitRow('drops-table', env('KSCOPE_DROP'));
  const n = Number((await drops.locator('td').nth(1).innerText()).replace(/[^\d]/g, ''));
  if (!(n > 0)) throw new Error(`drops row: ${await drops.innerText()}`);
  if (env('KSCOPE_FILTER')) {
    const rule = await waitRow('filter-rules-table', env('KSCOPE_FILTER'), env('KSCOPE_FILTER_RULE'));
    const packets = Number((await rule.locator('td').nth(2).innerText()).replace(/[^\d]/g, ''));
    if (!(packets > 0)) throw new Error(`filter rule row without packets: ${await rule.innerText()}`);
    const info = await page.locator('[data-testid="filter-info"]').filter({ hasText: env('KSCOPE_FILTER') }).first().innerText();
    if (!/\d+ rules, \d+ matched a packet/.test(info)) throw new Error(`filter line: ${info}`);
  }
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(out, 'network-1280.png'), fullPage: true });
});

await check('network-390', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + '/network?range=15m', { waitUntil: 'domcontentloaded' });
  await waitRow('talkers-table', env('KSCOPE_COMM'));
  const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (over > 1) throw new Error(`the network page is ${over}px wider than the phone screen`);
  await page.screenshot({ path: join(out, 'network-390.png'), fullPage: false });
});

if (pageErrors.length) results.push({ name: 'no-page-errors', ok: false, error: pageErrors.slice(0, 5).join(' | ') });
else results.push({ name: 'no-page-errors', ok: true });
await ctx.close();
rmSync(profile, { recursive: true, force: true });
const failed = results.filter((r) => !r.ok);
console.log(`screenshots: ${out}`);
for (const f of failed) console.log(`failed: ${f.name}: ${f.error}`);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
