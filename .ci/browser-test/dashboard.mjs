// Drives the built-in dashboard (GET /) in Debian's headless Chromium against a server with the
// demo data, with every request that leaves 127.0.0.1 blocked (so a CDN dependency fails) and any
// console error or page error failing the run. It checks what a person would:
//   - a bad token gets a clear message and is not kept;
//   - the MSP's tenants page lists every tenant the token reads, with the API's percentages;
//   - the overview shows exactly the API's numbers (score tile, a toggled view, every category);
//   - a status change in the action flyout changes the score tile without a reload, another
//     tab's tile follows live (subscriptions), and undo brings both back;
//   - the actions list pages and filters as the API does, with its state in the URL;
//   - the history page lists the change and downloads the CSV export;
//   - "why it moved", "what peers did" and "best plan" show the API's scoreChange, peerGaps and
//     plan; applying the plan
//     marks its actions PLANNED;
//   - a READER sees no write control; Escape closes the flyout; sign-out forgets the token; the
//     token is never in localStorage.
// Screenshots (light, dark, narrow, flyout, tenants, history) go to the artifacts directory.
//
// Usage: node dashboard.mjs <server base url> <tokens.json> <artifacts dir>
//   tokens.json: {"tenant": "<slug>", "reader": "...", "operator": "...", "admin": "...", "msp": "..."}
import { launch } from './chromium.mjs';
import { mkdirSync, readFileSync } from 'node:fs';

const [base, tokensFile, artifacts = '.'] = process.argv.slice(2);
if (!base || !tokensFile) {
  console.error('usage: node dashboard.mjs <base url> <tokens.json> [artifacts dir]');
  process.exit(2);
}
const tokens = JSON.parse(readFileSync(tokensFile, 'utf8'));
const slug = tokens.tenant;
mkdirSync(artifacts, { recursive: true });

const problems = [];
const passed = [];
const TIMEOUT = 20_000;

/** Runs the GraphQL `query` as `token` (outside the browser, to know what the page must show). */
async function api(token, query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`API error: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const SCORE = `query($slug: String!) { tenant(slug: $slug) { secureScore {
  current { points max percentage } planned { points max percentage }
  categories { category current { points max percentage } } } } }`;

async function score(token) {
  return (await api(token, SCORE, { slug })).tenant.secureScore;
}

/** How the dashboard prints the API's numbers (as given: the API rounds to 2 decimals). */
const points = (v) => String(v);
const percent = (v) => `${v} %`;

const browser = await launch();

/** A new browser tab for `who`, offline but for this server, with its console watched. */
async function tab(who, { width = 1280, height = 800, colorScheme = 'light', expectedErrors = [] } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme, acceptDownloads: true });
  const page = await context.newPage();
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
    problems.push(`${who}: blocked a request to ${url.href}`);
    return route.abort('blockedbyclient');
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    if (expectedErrors.some((re) => re.test(msg.text()))) return;
    problems.push(`${who}: console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${who}: page error: ${err.message}`));
  return page;
}

/** Opens `path` and signs in there with `token` by typing it, as a person would. */
async function signIn(page, path, token) {
  await page.goto(`${base}${path}`);
  await page.locator('#token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function step(name, fn) {
  try {
    await fn();
    passed.push(name);
    console.log(`ok   ${name}`);
  } catch (err) {
    problems.push(`${name}: ${err.message}`);
    console.log(`FAIL ${name}: ${err.message}`);
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** Waits until the text of `locator` is `expected` (trimmed). */
async function waitForText(locator, expected, what) {
  try {
    await locator.filter({ hasText: expected }).first().waitFor({ timeout: TIMEOUT });
    const text = (await locator.first().innerText()).trim();
    expect(text === expected, `${what}: shows "${text}", the API says "${expected}"`);
  } catch (err) {
    const text = await locator.first().innerText().catch(() => '(missing)');
    throw new Error(`${what}: shows "${text.trim()}", the API says "${expected}" (${err.message.split('\n')[0]})`);
  }
}

try {
  const before = await score(tokens.operator);
  // An open action whose resolution changes the score; device actions take exceptions instead.
  const open = await api(tokens.operator, `query($slug: String!) { tenant(slug: $slug) {
      improvementActions(first: 100, filter: { statuses: [TO_ADDRESS], hasPointsRemaining: true }) {
        nodes { controlId title category } } } }`, { slug });
  const action = open.tenant.improvementActions.nodes.find((a) => a.category !== 'DEVICE');
  expect(action, 'the demo tenant has an open non-device action');

  await step('the page and its CSP come from this server', async () => {
    const response = await fetch(`${base}/tenants/${slug}/actions/${action.controlId}`);
    expect(response.ok, `deep link answered ${response.status}`);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp.includes("script-src 'self'") && !csp.includes('unsafe'), `CSP: ${csp}`);
  });

  await step('a bad token gets a clear message and is not kept', async () => {
    const page = await tab('bad token', { expectedErrors: [/status of 401/] });
    await signIn(page, '/', 'ssk_this_is_not_a_token');
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: TIMEOUT });
    const text = await alert.innerText();
    expect(/not accepted/i.test(text), `the message says the token was not accepted: ${text}`);
    expect(await page.locator('#token').isVisible(), 'the sign-in form stays');
    const kept = await page.evaluate(() => [sessionStorage.length, localStorage.length]);
    expect(kept[0] === 0 && kept[1] === 0, `nothing kept: ${kept}`);
    await page.screenshot({ path: `${artifacts}/dashboard-bad-token.png` });
    await page.context().close();
  });

  await step("the MSP's tenants page lists every tenant it reads, with the API's numbers", async () => {
    const viewer = (await api(tokens.msp, '{ viewer { tenants { currentScorePercentage tenant { slug } } } }')).viewer;
    const page = await tab('msp');
    await signIn(page, '/', tokens.msp);
    const rows = page.locator('tr[data-tenant-slug]');
    await rows.first().waitFor({ timeout: TIMEOUT });
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-tenant-slug]').length === n,
      viewer.tenants.length, { timeout: TIMEOUT });
    for (const access of viewer.tenants) {
      const row = page.locator(`tr[data-tenant-slug="${access.tenant.slug}"]`);
      const expected = percent(access.currentScorePercentage);
      await row.filter({ hasText: expected }).waitFor({ timeout: TIMEOUT }).catch(async () => {
        throw new Error(`${access.tenant.slug}'s row shows no ${expected}: ${await row.innerText()}`);
      });
    }
    await page.screenshot({ path: `${artifacts}/dashboard-tenants.png`, fullPage: true });
    await page.context().close();
  });

  const operator = await tab('operator');
  const admin = await tab('admin (other tab)', { colorScheme: 'dark' });

  await step('the overview shows exactly the API numbers', async () => {
    await signIn(operator, `/tenants/${slug}`, tokens.operator);
    await waitForText(operator.locator('[data-testid="score-points"]'), points(before.current.points), 'score points');
    await waitForText(operator.locator('[data-testid="score-max"]'), points(before.current.max), 'maximum');
    await waitForText(operator.locator('[data-testid="score-percentage"]'), percent(before.current.percentage), 'percentage');
    for (const c of before.categories) {
      const row = operator.locator(`[data-testid="category-${c.category}"]`);
      await row.waitFor({ timeout: TIMEOUT });
      const text = await row.innerText();
      expect(text.includes(points(c.current.points)) && text.includes(points(c.current.max)),
        `category ${c.category} shows ${c.current.points} of ${c.current.max}: ${text}`);
    }
    await operator.getByLabel('Planned', { exact: true }).check();
    const planned = operator.locator('[data-testid="view-planned"]');
    await planned.waitFor({ state: 'visible', timeout: TIMEOUT });
    const text = await planned.innerText();
    expect(text.includes(points(before.planned.points)), `the planned view shows ${before.planned.points}: ${text}`);
    const stored = await operator.evaluate(() => localStorage.length);
    expect(stored === 0, 'nothing in localStorage');
    await operator.screenshot({ path: `${artifacts}/dashboard-overview-light.png`, fullPage: true });
  });

  await step('another tab shows the same overview (dark)', async () => {
    await signIn(admin, `/tenants/${slug}`, tokens.admin);
    await waitForText(admin.locator('[data-testid="score-points"]'), points(before.current.points), 'other tab');
    await admin.screenshot({ path: `${artifacts}/dashboard-overview-dark.png`, fullPage: true });
  });

  let after;
  await step('a status change in the flyout changes the score without a reload, and the other tab live', async () => {
    await operator.goto(`${base}/tenants/${slug}/actions/${action.controlId}`);
    await operator.evaluate(() => { window.notReloaded = true; });
    const flyout = operator.locator('[data-testid="flyout"]');
    await flyout.waitFor({ timeout: TIMEOUT });
    await waitForText(operator.locator('[data-testid="score-points"]'), points(before.current.points), 'score on the actions page');
    await flyout.getByLabel('Status', { exact: true }).selectOption('RESOLVED_THIRD_PARTY');
    await flyout.getByLabel('Comment').fill('Covered by our third-party MFA (browser test)');
    await flyout.getByRole('button', { name: 'Save status' }).click();
    // What the page must show is what the API says now.
    for (let i = 0; i < 100; i += 1) {
      after = await score(tokens.operator);
      if (after.current.points !== before.current.points) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(after.current.points !== before.current.points, 'the change reached the API');
    await waitForText(operator.locator('[data-testid="score-points"]'), points(after.current.points), 'score after the change');
    expect(await operator.evaluate(() => window.notReloaded === true), 'the page was not reloaded');
    await waitForText(admin.locator('[data-testid="score-points"]'), points(after.current.points), 'the other tab, live');
    await waitForText(admin.locator('[data-testid="score-percentage"]'), percent(after.current.percentage), 'the other tab, live');
    await operator.screenshot({ path: `${artifacts}/dashboard-flyout.png` });
  });

  await step('the actions list filters and pages through the API, kept in the URL', async () => {
    const all = await api(tokens.operator, `query($slug: String!) { tenant(slug: $slug) {
        all: improvementActions(first: 1) { totalCount }
        open: improvementActions(first: 1, filter: { statuses: [TO_ADDRESS] }) { totalCount } } }`, { slug });
    const page = await tab('actions list');
    await signIn(page, `/tenants/${slug}/actions`, tokens.reader);
    const info = page.locator('[data-testid="page-info"]');
    const total = all.tenant.all.totalCount;
    await waitForText(info, `1–${Math.min(25, total)} of ${total}`, 'first page');
    expect(await page.locator('tr[data-control-id]').count() === Math.min(25, total), 'one row per action');
    if (total > 25) {
      await page.getByRole('button', { name: /Next/ }).click();
      await waitForText(info, `26–${Math.min(50, total)} of ${total}`, 'second page');
      expect(new URL(page.url()).searchParams.has('after'), `the cursor is in the URL: ${page.url()}`);
      await page.reload();
      await waitForText(info, `26–${Math.min(50, total)} of ${total}`, 'second page after a reload');
    }
    await page.goto(`${base}/tenants/${slug}/actions?status=TO_ADDRESS`);
    const open = all.tenant.open.totalCount;
    await waitForText(info, `1–${Math.min(25, open)} of ${open}`, 'filtered by status');
    const statuses = await page.locator('tr[data-control-id]').evaluateAll((rows) => rows.map((r) => r.dataset.status));
    expect(statuses.every((s) => s === 'TO_ADDRESS'), `only TO_ADDRESS rows: ${statuses}`);
    await page.context().close();
  });

  await step('the history page lists the change and downloads the CSV export', async () => {
    const page = await tab('history');
    await signIn(page, `/tenants/${slug}/history`, tokens.admin);
    await page.locator('main').filter({ hasText: action.controlId }).waitFor({ timeout: TIMEOUT });
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: TIMEOUT }),
      page.getByRole('button', { name: /CSV/ }).first().click(),
    ]);
    const file = await download.path();
    const csv = readFileSync(file, 'utf8');
    expect(csv.includes(action.controlId), 'the CSV has the action');
    await page.screenshot({ path: `${artifacts}/dashboard-history.png`, fullPage: true });
    await page.context().close();
  });

  await step('undo in the flyout brings the score back, in both tabs', async () => {
    const flyout = operator.locator('[data-testid="flyout"]');
    await flyout.getByRole('button', { name: /Undo/ }).click();
    await waitForText(operator.locator('[data-testid="score-points"]'), points(before.current.points), 'score after undo');
    await waitForText(admin.locator('[data-testid="score-points"]'), points(before.current.points), 'the other tab after undo');
  });

  await step('a READER sees no write controls', async () => {
    const page = await tab('reader');
    await signIn(page, `/tenants/${slug}/actions/${action.controlId}`, tokens.reader);
    const flyout = page.locator('[data-testid="flyout"]');
    await flyout.waitFor({ timeout: TIMEOUT });
    await flyout.getByText(action.title).first().waitFor({ timeout: TIMEOUT });
    const writes = await page.locator('[data-write]').count();
    expect(writes === 0, `${writes} write controls shown to a READER`);
    expect(await page.getByRole('button', { name: 'Save status' }).count() === 0, 'no Save status button');
    await page.context().close();
  });

  await step('a narrow window shows the overview', async () => {
    const page = await tab('narrow', { width: 420, height: 800 });
    await signIn(page, `/tenants/${slug}`, tokens.reader);
    await page.locator('[data-testid="score-points"]').waitFor({ timeout: TIMEOUT });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow <= 1, `the page is ${overflow}px wider than the window`);
    await page.screenshot({ path: `${artifacts}/dashboard-narrow.png`, fullPage: true });
    await page.context().close();
  });

  await step('the overview explains the change, lists what peers did and plans within a budget; a writer applies the plan', async () => {
    const from = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
    const expected = (await api(tokens.operator, `query($slug: String!, $from: Date) { tenant(slug: $slug) {
        scoreChange(from: $from) { pointsDelta causes { cause } }
        plan(input: { effortBudget: 20 }) { pointsGained actions { action { controlId status } } } } }`,
    { slug, from })).tenant;
    const page = await tab('insights');
    await signIn(page, `/tenants/${slug}`, tokens.operator);
    const signed = (v) => `${v > 0 ? '+' : ''}${v}`;
    const why = page.locator('[data-testid="why-summary"]');
    await why.filter({ hasText: `Change ${signed(expected.scoreChange.pointsDelta)} points` }).waitFor({ timeout: TIMEOUT })
      .catch(async () => { throw new Error(`why it moved: ${await why.innerText()} vs ${expected.scoreChange.pointsDelta}`); });
    const causes = await page.locator('[data-testid="why-it-moved"] li.in-cause').evaluateAll((els) => els.map((e) => e.dataset.cause));
    expect(expected.scoreChange.causes.every((c) => causes.includes(c.cause)), `causes shown ${causes}`);
    const gaps = (await api(tokens.operator, `query($slug: String!) { tenant(slug: $slug) {
        peerGaps(first: 8) { suppressedReason actions { action { controlId } } } } }`, { slug })).tenant.peerGaps;
    const peerRows = page.locator('[data-testid="what-peers-did"] tr[data-control-id]');
    if (gaps.suppressedReason) {
      await page.locator(`[data-testid="what-peers-did"] [data-reason="${gaps.suppressedReason}"]`).waitFor({ timeout: TIMEOUT });
    } else {
      await peerRows.first().waitFor({ timeout: TIMEOUT });
      const shown = await peerRows.evaluateAll((rows) => rows.map((r) => r.dataset.controlId));
      const wanted = gaps.actions.map((g) => g.action.controlId);
      expect(JSON.stringify(shown) === JSON.stringify(wanted), `peers' gaps ${shown} vs the API's ${wanted}`);
    }
    const plan = page.locator('[data-testid="plan-summary"]');
    await plan.filter({ hasText: `${signed(expected.plan.pointsGained)} points` }).waitFor({ timeout: TIMEOUT })
      .catch(async () => { throw new Error(`plan: ${await plan.innerText()} vs ${expected.plan.pointsGained}`); });
    await page.getByRole('button', { name: /Planned$/ }).click();
    await page.locator('[data-testid="best-plan"]').getByRole('status').filter({ hasText: 'marked Planned' })
      .waitFor({ timeout: TIMEOUT });
    const ids = expected.plan.actions.map((a) => a.action.controlId);
    const now = await api(tokens.operator, `query($slug: String!) { tenant(slug: $slug) {
        improvementActions(first: 100, filter: { statuses: [PLANNED] }) { nodes { controlId } } } }`, { slug });
    const planned = new Set(now.tenant.improvementActions.nodes.map((a) => a.controlId));
    expect(ids.every((id) => planned.has(id)), `every action of the plan is PLANNED: ${ids}`);
    await page.screenshot({ path: `${artifacts}/dashboard-insights.png`, fullPage: true });
    await page.context().close();
  });

  await step('Escape closes the flyout; sign-out forgets the token', async () => {
    await operator.keyboard.press('Escape');
    await operator.locator('[data-testid="flyout"]').waitFor({ state: 'hidden', timeout: TIMEOUT });
    expect(new URL(operator.url()).pathname === `/tenants/${slug}/actions`, `back on the list: ${operator.url()}`);
    await operator.getByRole('button', { name: 'Sign out' }).click();
    await operator.locator('#token').waitFor({ timeout: TIMEOUT });
    const kept = await operator.evaluate(() => sessionStorage.length + localStorage.length);
    expect(kept === 0, 'storage is empty after sign-out');
    await operator.reload();
    await operator.locator('#token').waitFor({ timeout: TIMEOUT });
  });
} catch (err) {
  problems.push(`${err.message}`);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  console.error(`dashboard browser test FAILED (${passed.length} steps passed):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`dashboard browser test passed: ${passed.length} steps, screenshots in ${artifacts}`);
