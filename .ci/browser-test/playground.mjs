// Loads the GraphQL playground in Debian's headless Chromium with every request that leaves
// 127.0.0.1 blocked (so a CDN dependency fails the test), types an API token into GraphiQL's
// headers editor, runs the default `viewer` query and checks the result pane shows the viewer.
//
// Usage: node playground.mjs <server base url> <API token> <expected viewer name> [screenshot.png]
import { launch } from './chromium.mjs';

const [base, token, expectedName, screenshot] = process.argv.slice(2);
if (!base || !token || !expectedName) {
  console.error('usage: node playground.mjs <base url> <token> <expected viewer name> [screenshot.png]');
  process.exit(2);
}

const problems = [];
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  const local = new Set();
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') {
      local.add(url.pathname);
      return route.continue();
    }
    problems.push(`blocked a request to ${url.href}`);
    return route.abort('blockedbyclient');
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));

  const response = await page.goto(`${base}/graphql`);
  const csp = response.headers()['content-security-policy'] ?? '';
  if (!csp.includes("script-src 'self'")) problems.push(`page CSP lacks script-src 'self': ${csp}`);

  // The documentation explorer needs introspection, which works without a token.
  await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
  await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().waitFor({ timeout: 30_000 });

  // The headers editor is open by default with the `{"Authorization": "Bearer "}` hint; replace
  // its text the way a user pastes a token. insertText types without key events, so CodeMirror's
  // bracket auto-closing does not interfere.
  const headers = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
  await headers.waitFor({ timeout: 30_000 });
  await headers.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));

  await page.locator('.graphiql-execute-button').click();
  const result = page.locator('.graphiql-response .CodeMirror');
  await result.filter({ hasText: expectedName }).waitFor({ timeout: 30_000 });
  const text = await result.innerText();
  if (!text.includes('"viewer"') || text.includes('"errors"')) problems.push(`unexpected result: ${text}`);

  if (screenshot) await page.screenshot({ path: screenshot });
  console.log(`loaded from the server: ${[...local].sort().join(', ')}`);
  console.log(`result pane:\n${text}`);
} catch (err) {
  problems.push(`${err.message}`);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  console.error(`playground browser test FAILED:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('playground browser test passed: GraphiQL ran a query with a token, offline');
