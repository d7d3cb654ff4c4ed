// Follows a tenant's secure score live over the GraphQL WebSocket endpoint of securescore
// (protocol `graphql-transport-ws`, client: the `graphql-ws` package).
//
//   cd examples && npm ci
//   SECURESCORE_URL=http://127.0.0.1:8000 SECURESCORE_TOKEN=ssk_… node subscribe.mjs contoso-bank
//
// Prints the score at once, then a line after every committed change to the tenant, made
// through any server process. Ctrl-C stops it.

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { fileURLToPath } from 'node:url';

export const SCORE_UPDATED = `
  subscription ScoreUpdated($slug: String!) {
    scoreUpdated(tenantSlug: $slug) {
      current { points percentage }
      planned { points percentage }
      achievable { points percentage }
      maxScore { points }
      updatedAt
    }
  }`;

/**
 * Opens a client on the server at `url` (http(s)://host:port), authenticated with `token` in
 * `connection_init`, as browsers and most clients do (WebSocket requests can't carry headers).
 */
export function connect(url, token) {
  return createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql/ws`,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    // A refused token is final: don't keep reconnecting with it.
    shouldRetry: () => false,
    lazy: true,
  });
}

/**
 * Calls `onScore(score)` for the current score and after every change; returns a function that
 * unsubscribes. `onError` gets GraphQL errors (e.g. NOT_FOUND) and closed connections.
 */
export function followScore(client, slug, onScore, onError = (e) => console.error(e)) {
  return client.subscribe(
    { query: SCORE_UPDATED, variables: { slug } },
    {
      next: (result) => {
        if (result.errors) onError(result.errors);
        else onScore(result.data.scoreUpdated);
      },
      error: onError,
      complete: () => {},
    },
  );
}

function main() {
  const url = process.env.SECURESCORE_URL ?? 'http://127.0.0.1:8000';
  const token = process.env.SECURESCORE_TOKEN;
  const slug = process.argv[2];
  if (!token || !slug) {
    console.error('usage: SECURESCORE_TOKEN=ssk_… [SECURESCORE_URL=…] node subscribe.mjs <tenant-slug>');
    process.exit(2);
  }
  const client = connect(url, token);
  followScore(
    client,
    slug,
    (s) => {
      const pct = (v) => `${v.points} (${v.percentage}%)`;
      console.log(
        `${s.updatedAt}  current ${pct(s.current)}  planned ${pct(s.planned)}  achievable ${pct(s.achievable)}  of ${s.maxScore.points}`,
      );
    },
    (err) => {
      console.error('subscription failed:', err instanceof Error ? err.message : JSON.stringify(err));
      process.exit(1);
    },
  );
  process.on('SIGINT', () => client.dispose().then(() => process.exit(0)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main();
}
