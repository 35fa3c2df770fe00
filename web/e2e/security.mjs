// End-to-end check of the web UI's Security page against a running agent
// enforcing a policy, in headless Chromium (playwright-core).
//
//   KSCOPE_URL        the agent (required)
//   KSCOPE_OUT        directory for screenshots (default: a new temp dir)
//   KSCOPE_KILL       RULE/PID/START: an alert of RULE (severity high,
//                     outcome killed) for the process PID that started at
//                     START (start_ns)
//   KSCOPE_ALERT      RULE: a rule of severity low whose alerts say alerted
//   KSCOPE_ANCESTOR   a binary name the killed process's ancestry shows
//   CHROMIUM          the browser (default /usr/bin/chromium)
//
// Exit status 0 when every check passed, 1 otherwise.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.KSCOPE_URL;
const [killRule, killPid, killStart] = (process.env.KSCOPE_KILL || '').split('/');
const alertRule = process.env.KSCOPE_ALERT || '';
const ancestor = process.env.KSCOPE_ANCESTOR || ''; // a binary the killed process's ancestry names
if (!base || !killStart || !alertRule) {
  console.error('security.mjs: set KSCOPE_URL, KSCOPE_KILL=RULE/PID/START and KSCOPE_ALERT=RULE');
  process.exit(2);
}
const out = process.env.KSCOPE_OUT || mkdtempSync(join(tmpdir(), 'kscope-web-security-'));
mkdirSync(out, { recursive: true });
const timeout = 20000;

const profile = mkdtempSync(join(tmpdir(), 'kscope-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
  colorScheme: 'dark',
});
const page = ctx.pages()[0] ?? (await ctx.newPage());
page.setDefaultTimeout(timeout);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));

const results = [];
async function check(name, f) {
  try {
    await f();
    results.push({ name, ok: true });
    console.log(`ok    ${name}`);
  } catch (e) {
    results.push({ name, ok: false, error: String(e.message ?? e).split('\n')[0] });
    console.log(`FAIL  ${name}: ${String(e.message ?? e).split('\n').slice(0, 3).join(' | ')}`);
    await page.screenshot({ path: join(out, `fail-${name}.png`), fullPage: true }).catch(() => {});
  }
}

const rows = () => page.locator('[data-testid="alerts-table"] tbody tr');
const rulesShown = () => page.locator('[data-testid="alert-rule"]').allTextContents();

await check('security-page', async () => {
  await page.goto(base + '/?range=15m', { waitUntil: 'domcontentloaded' });
  await page.click('[data-testid="nav-security"]');
  await page.locator('[data-testid="alert-rule"]', { hasText: killRule }).first().waitFor();
  await page.locator('[data-testid="alert-rule"]', { hasText: alertRule }).first().waitFor();
  const killRow = rows().filter({ hasText: killRule }).first();
  const outcome = await killRow.locator('[data-testid="alert-outcome"]').textContent();
  if (!/kill\s*→\s*killed/.test(outcome)) throw new Error(`the ${killRule} alert's outcome reads ${JSON.stringify(outcome)}`);
  if (ancestor) {
    const chain = await killRow.locator('[data-testid="alert-ancestry"]').textContent();
    if (!chain.split(' → ').includes(ancestor)) throw new Error(`the ${killRule} alert's ancestry reads ${JSON.stringify(chain)}, want ${ancestor} in it`);
  }
  const alertOutcome = await rows().filter({ hasText: alertRule }).first().locator('[data-testid="alert-outcome"]').textContent();
  if (!/alert\s*→\s*alerted/.test(alertOutcome)) throw new Error(`the ${alertRule} alert's outcome reads ${JSON.stringify(alertOutcome)}`);
  // The chart counts what the table lists.
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="alerts-plot"]')?.getAttribute('data-points')) > 0, null, { timeout });
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(out, 'security.png'), fullPage: true });
});

await check('filters', async () => {
  await page.selectOption('[data-testid="filter-rule"]', killRule);
  await page.waitForFunction((r) => {
    const cells = [...document.querySelectorAll('[data-testid="alert-rule"]')].map((c) => c.textContent);
    return cells.length > 0 && cells.every((c) => c === r);
  }, killRule);
  if (!page.url().includes('rule=' + encodeURIComponent(killRule))) throw new Error(`the rule filter is not in the URL: ${page.url()}`);
  await page.selectOption('[data-testid="filter-rule"]', '');
  await page.selectOption('[data-testid="filter-severity"]', 'low');
  await page.waitForFunction((r) => {
    const cells = [...document.querySelectorAll('[data-testid="alert-rule"]')].map((c) => c.textContent);
    return cells.length > 0 && cells.every((c) => c === r);
  }, alertRule);
  const shown = await rulesShown();
  if (shown.includes(killRule)) throw new Error(`severity low lists ${killRule}`);
  await page.selectOption('[data-testid="filter-severity"]', '');
});

await check('pid-link', async () => {
  const link = rows().filter({ hasText: killRule }).first().locator('[data-testid="alert-pid"]');
  const href = await link.getAttribute('href');
  const want = `/processes/${killPid}/${killStart}`;
  if (!href || !href.startsWith(want)) throw new Error(`the pid links to ${href}, want ${want}`);
  await link.click();
  await page.waitForURL((u) => u.pathname === want);
});

if (pageErrors.length) results.push({ name: 'no-page-errors', ok: false, error: pageErrors.slice(0, 5).join(' | ') });
await ctx.close();
rmSync(profile, { recursive: true, force: true });
const failed = results.filter((r) => !r.ok);
console.log(`screenshots: ${out}`);
for (const f of failed) console.log(`failed: ${f.name}: ${f.error}`);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
