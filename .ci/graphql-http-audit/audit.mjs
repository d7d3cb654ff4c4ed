// Runs graphql-http's GraphQL-over-HTTP conformance audits against a running server and fails
// on any MUST or SHOULD failure (MAY failures are printed as notices only).
//
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint url>');
  process.exit(2);
}

const counts = { ok: 0, MUST: 0, SHOULD: 0, MAY: 0 };
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const level = audit.name.split(' ')[0];
  if (result.status === 'ok') {
    counts.ok += 1;
    continue;
  }
  counts[level] += 1;
  let body = '';
  try {
    body = (await result.response.text()).slice(0, 300);
  } catch {
    // The audit may already have read the body; the reason says enough then.
  }
  console.log(`${result.status.toUpperCase()} ${audit.name}\n    ${result.reason}`);
  console.log(`    got ${result.response.status} ${result.response.headers.get('content-type')} ${body}`);
}

console.log(
  `graphql-http audit of ${url}: ${counts.ok} passed, ` +
    `${counts.MUST} MUST and ${counts.SHOULD} SHOULD failed, ${counts.MAY} MAY notices`,
);
process.exit(counts.MUST + counts.SHOULD > 0 ? 1 : 0);
