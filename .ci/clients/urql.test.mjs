// urql (@urql/core) with the normalised Graphcache exchange, against the securescore binary
// started by .ci/clients/run: `keys` for the entities (Tenant, ImprovementAction, SecureScore by
// `id`; value objects embedded), the committed schema.graphql as Graphcache's schema, a mutation
// whose `tenant { id secureScore { id … } }` selection updates the cached score, scoreUpdated over
// graphql-ws through subscriptionExchange, and how errors arrive.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { cacheExchange } from '@urql/exchange-graphcache';
import { buildSchema, introspectionFromSchema } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { operation, planElsewhere, queue, schemaSdl, slug, tokens, url, wsUrl } from './lib.mjs';

const TenantScore = operation('TenantScore');
const OpenActions = operation('OpenActions');
const SetActionStatus = operation('SetActionStatus');
const ScoreUpdated = operation('ScoreUpdated');

const schema = introspectionFromSchema(buildSchema(schemaSdl));
const embedded = () => null; // no identity of its own: stored inside its parent

const opened = [];
function makeClient(token) {
  const wsClient = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    shouldRetry: () => false,
    lazy: true,
  });
  const client = new Client({
    url: `${url}/graphql`,
    fetchOptions: () => ({ headers: { Authorization: `Bearer ${token}` } }),
    exchanges: [
      cacheExchange({
        schema,
        keys: {
          Tenant: (t) => t.id,
          ImprovementAction: (a) => a.id,
          SecureScore: (s) => s.id,
          CategoryScore: (c) => c.id,
          ScoreView: embedded,
          PageInfo: embedded,
          ImprovementActionConnection: embedded,
          ImprovementActionEdge: embedded,
          UserError: embedded,
          SetActionStatusPayload: embedded,
        },
      }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              const unsubscribe = wsClient.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  opened.push(wsClient);
  return client;
}

after(async () => {
  for (const wsClient of opened) await wsClient.dispose();
});

async function openAction(client) {
  const result = await client.query(OpenActions, { slug, first: 20 }, { requestPolicy: 'network-only' }).toPromise();
  assert.ifError(result.error);
  const node = result.data.tenant.improvementActions.edges[0]?.node;
  assert.ok(node, 'the demo tenant has an open action to plan');
  assert.equal(node.status, 'TO_ADDRESS');
  assert.notEqual(node.category, 'DEVICE');
  return node;
}

test('the score query is cached under the tenant', async () => {
  const client = makeClient(tokens.reader);
  const result = await client.query(TenantScore, { slug }).toPromise();
  assert.ifError(result.error);
  const tenant = result.data.tenant;
  assert.equal(tenant.slug, slug);
  assert.equal(typeof tenant.secureScore.id, 'string');
  assert.ok(tenant.secureScore.maxScore.points > 0);
  assert.ok(tenant.secureScore.current.points <= tenant.secureScore.maxScore.points);
  const cached = client.readQuery(TenantScore, { slug });
  assert.deepEqual(cached.data, result.data);
});

test('setActionStatus updates Tenant.secureScore in Graphcache through its payload', async () => {
  const client = makeClient(tokens.operator);
  const before = (await client.query(TenantScore, { slug }).toPromise()).data.tenant;
  const action = await openAction(client);

  const result = await client
    .mutation(SetActionStatus, { input: { tenantSlug: slug, controlId: action.controlId, status: 'PLANNED', comment: 'urql CI' } })
    .toPromise();
  assert.ifError(result.error);
  const payload = result.data.setActionStatus;
  assert.deepEqual(payload.userErrors, []);
  assert.equal(payload.action.status, 'PLANNED');
  assert.equal(payload.tenant.id, before.id);
  assert.equal(payload.tenant.secureScore.id, before.secureScore.id);
  const planned = payload.tenant.secureScore.planned.points;
  assert.notEqual(planned, before.secureScore.planned.points);

  // From the cache only (requestPolicy cache-only, answered synchronously).
  const cached = client.readQuery(TenantScore, { slug });
  assert.equal(cached.data.tenant.secureScore.planned.points, planned);
  // The action entity in the cached OpenActions list has the new status.
  const list = client.readQuery(OpenActions, { slug, first: 20 });
  const entry = list.data.tenant.improvementActions.edges.find((e) => e.node.id === action.id);
  assert.equal(entry?.node.status, 'PLANNED');
});

test('scoreUpdated through subscriptionExchange delivers the score after a change', async () => {
  const client = makeClient(tokens.operator);
  const before = (await client.query(TenantScore, { slug }, { requestPolicy: 'network-only' }).toPromise()).data.tenant;
  const items = queue();
  const { unsubscribe } = client.subscription(ScoreUpdated, { slug }).subscribe((r) => items.push(r));
  try {
    const first = await items.next();
    assert.ifError(first.error);
    assert.equal(first.data.scoreUpdated.planned.points, before.secureScore.planned.points);
    const action = await openAction(client);
    const expected = await planElsewhere(action.controlId);
    assert.notEqual(expected, before.secureScore.planned.points);
    const pushed = await items.until((r) => r.error || r.data.scoreUpdated.planned.points === expected);
    assert.ifError(pushed.error);
    // Graphcache wrote the pushed SecureScore over the tenant's cached one.
    const cached = client.readQuery(TenantScore, { slug });
    assert.equal(cached.data.tenant.secureScore.planned.points, expected);
  } finally {
    unsubscribe();
  }
});

test('userErrors come in data; NOT_FOUND and FORBIDDEN in the CombinedError', async () => {
  const operator = makeClient(tokens.operator);
  const reader = makeClient(tokens.reader);
  const action = await openAction(operator);

  const completed = await operator
    .mutation(SetActionStatus, { input: { tenantSlug: slug, controlId: action.controlId, status: 'COMPLETED' } })
    .toPromise();
  assert.equal(completed.error, undefined);
  assert.equal(completed.data.setActionStatus.userErrors[0]?.code, 'BAD_USER_INPUT');

  const missing = await reader.query(TenantScore, { slug: 'no-such-tenant' }).toPromise();
  assert.equal(missing.error?.graphQLErrors[0]?.extensions.code, 'NOT_FOUND', String(missing.error));
  // Graphcache does not cache an errored field, so the whole data is null here (Apollo's
  // InMemoryCache with errorPolicy 'all' gives { tenant: null }).
  assert.equal(missing.data?.tenant ?? null, null);

  const forbidden = await reader
    .mutation(SetActionStatus, { input: { tenantSlug: slug, controlId: action.controlId, status: 'PLANNED' } })
    .toPromise();
  assert.equal(forbidden.error?.graphQLErrors[0]?.extensions.code, 'FORBIDDEN', String(forbidden.error));
  assert.equal(forbidden.data?.setActionStatus ?? null, null);
});
