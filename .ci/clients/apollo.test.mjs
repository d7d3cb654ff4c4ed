// Apollo Client 3 as a dashboard uses it, against the securescore binary started by
// .ci/clients/run: a normalised InMemoryCache (Tenant, ImprovementAction and SecureScore keyed
// by `id`), relayStylePagination() on Tenant.improvementActions, mutations that update the cache
// through their `tenant { id secureScore { id … } }` selection, scoreUpdated over graphql-ws,
// and how userErrors and top-level errors reach the caller.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ApolloClient, ApolloError, HttpLink, InMemoryCache, gql, split } from '@apollo/client/core/index.js';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities/index.js';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions/index.js';
import { loadDevMessages, loadErrorMessages } from '@apollo/client/dev/index.js';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { operation, planElsewhere, queue, slug, tokens, uniqueIds, url, wsUrl } from './lib.mjs';

// Readable invariant errors and warnings instead of links to go.apollo.dev.
loadDevMessages();
loadErrorMessages();

const TenantScore = operation('TenantScore');
const ActionsPage = operation('ActionsPage');
const OpenActions = operation('OpenActions');
const SetActionStatus = operation('SetActionStatus');
const ScoreUpdated = operation('ScoreUpdated');

function makeCache() {
  return new InMemoryCache({
    typePolicies: {
      Tenant: {
        keyFields: ['id'],
        fields: {
          // One cached list per filter and order; pages (first/after) are merged into it.
          improvementActions: relayStylePagination(['filter', 'orderBy']),
        },
      },
      ImprovementAction: { keyFields: ['id'] },
      SecureScore: { keyFields: ['id'] },
      CategoryScore: { keyFields: ['id'] },
      // Value objects without an id: merge rather than replace.
      ScoreView: { merge: true },
    },
  });
}

const opened = [];
/** A client with its own cache, HTTP for queries and mutations, graphql-ws for subscriptions. */
function makeClient(token) {
  const wsClient = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    shouldRetry: () => false,
    lazy: true,
  });
  const link = split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === 'OperationDefinition' && def.operation === 'subscription';
    },
    new GraphQLWsLink(wsClient),
    new HttpLink({ uri: `${url}/graphql`, headers: { Authorization: `Bearer ${token}` } }),
  );
  const client = new ApolloClient({ link, cache: makeCache() });
  opened.push({ client, wsClient });
  return client;
}

after(async () => {
  for (const { client, wsClient } of opened) {
    client.stop();
    await wsClient.dispose();
  }
});

test('pages of improvementActions merge into one cached list with fetchMore', async () => {
  const client = makeClient(tokens.reader);
  const variables = { slug, first: 10 };
  const watched = client.watchQuery({ query: ActionsPage, variables });
  const emitted = queue();
  const sub = watched.subscribe({ next: (r) => emitted.push(r), error: (e) => emitted.push({ error: e }) });
  try {
    const first = await emitted.until((r) => r.error || r.data);
    assert.ifError(first.error);
    const page1 = first.data.tenant.improvementActions;
    assert.equal(page1.edges.length, 10);
    assert.ok(page1.totalCount > 10, `the demo tenant has more than one page (${page1.totalCount})`);
    assert.equal(page1.pageInfo.hasNextPage, true);
    const page1Ids = uniqueIds(page1.edges.map((e) => e.node.id));

    const more = await watched.fetchMore({ variables: { after: page1.pageInfo.endCursor } });
    const page2Ids = more.data.tenant.improvementActions.edges.map((e) => e.node.id);
    assert.ok(page2Ids.length > 0);
    for (const id of page2Ids) assert.ok(!page1Ids.includes(id), `${id} is on both pages`);

    // The cache (read without a request) holds both pages, in order, once each.
    const cached = client.readQuery({ query: ActionsPage, variables });
    const cachedIds = uniqueIds(cached.tenant.improvementActions.edges.map((e) => e.node.id));
    assert.deepEqual(cachedIds, [...page1Ids, ...page2Ids]);
    assert.equal(cached.tenant.improvementActions.pageInfo.endCursor, more.data.tenant.improvementActions.pageInfo.endCursor);
    assert.equal(cached.tenant.improvementActions.totalCount, page1.totalCount);

    // And the watching component sees the grown list.
    const grown = await emitted.until((r) => r.data?.tenant.improvementActions.edges.length === cachedIds.length);
    assert.deepEqual(grown.data.tenant.improvementActions.edges.map((e) => e.node.id), cachedIds);
  } finally {
    sub.unsubscribe();
  }
});

/** A TO_ADDRESS action with points left outside DEVICE, found by query (network, not cache). */
async function openAction(client, skipIds = []) {
  const { data } = await client.query({ query: OpenActions, variables: { slug, first: 20 }, fetchPolicy: 'network-only' });
  const node = data.tenant.improvementActions.edges.map((e) => e.node).find((n) => !skipIds.includes(n.id));
  assert.ok(node, 'the demo tenant has an open action to plan');
  assert.equal(node.status, 'TO_ADDRESS');
  assert.notEqual(node.category, 'DEVICE');
  assert.ok(node.pointsRemaining > 0);
  return node;
}

test('setActionStatus updates Tenant.secureScore in the cache through its payload', async () => {
  const client = makeClient(tokens.operator);
  const before = (await client.query({ query: TenantScore, variables: { slug } })).data.tenant;
  assert.equal(before.slug, slug);
  assert.equal(typeof before.secureScore.id, 'string');
  const action = await openAction(client);

  const { data, errors } = await client.mutate({
    mutation: SetActionStatus,
    variables: { input: { tenantSlug: slug, controlId: action.controlId, status: 'PLANNED', comment: 'Apollo CI' } },
  });
  assert.equal(errors, undefined);
  const payload = data.setActionStatus;
  assert.deepEqual(payload.userErrors, []);
  assert.equal(payload.action.id, action.id);
  assert.equal(payload.action.status, 'PLANNED');
  assert.equal(payload.tenant.id, before.id);
  assert.equal(payload.tenant.secureScore.id, before.secureScore.id, 'the live score keeps its id');
  const planned = payload.tenant.secureScore.planned.points;
  assert.notEqual(planned, before.secureScore.planned.points, 'planning an action with points left changes the planned view');

  // From the cache only: no request is made by readQuery.
  const cached = client.readQuery({ query: TenantScore, variables: { slug } });
  assert.equal(cached.tenant.secureScore.planned.points, planned);
  assert.equal(cached.tenant.secureScore.current.points, payload.tenant.secureScore.current.points);
  // The action is normalised too: its cached entry (from the OpenActions list) has the new status.
  const cachedAction = client.readFragment({
    id: client.cache.identify({ __typename: 'ImprovementAction', id: action.id }),
    fragment: gql`fragment CachedStatus on ImprovementAction { status }`,
  });
  assert.equal(cachedAction.status, 'PLANNED');
});

test('scoreUpdated over graphql-ws delivers the score after a change and keeps the cache current', async () => {
  const client = makeClient(tokens.operator);
  const before = (await client.query({ query: TenantScore, variables: { slug }, fetchPolicy: 'network-only' })).data.tenant;
  const items = queue();
  const sub = client
    .subscribe({ query: ScoreUpdated, variables: { slug } })
    .subscribe({ next: (r) => items.push(r), error: (e) => items.push({ errors: [e] }) });
  try {
    const first = await items.next();
    assert.equal(first.errors, undefined, JSON.stringify(first.errors));
    assert.equal(first.data.scoreUpdated.planned.points, before.secureScore.planned.points, 'the score at once');
    assert.equal(first.data.scoreUpdated.id, before.secureScore.id, 'the live score has the id of Tenant.secureScore');

    const action = await openAction(client);
    const expected = await planElsewhere(action.controlId); // not through this client
    assert.notEqual(expected, before.secureScore.planned.points);
    const pushed = await items.until((r) => r.errors || r.data.scoreUpdated.planned.points === expected);
    assert.equal(pushed.errors, undefined, JSON.stringify(pushed.errors));

    // The pushed SecureScore was normalised onto the tenant's cached score.
    const cached = client.readQuery({ query: TenantScore, variables: { slug } });
    assert.equal(cached.tenant.secureScore.planned.points, expected);
  } finally {
    sub.unsubscribe();
  }
});

test('a business-rule failure is a userError in data, not an error', async () => {
  const client = makeClient(tokens.operator);
  const action = await openAction(client);
  const { data, errors } = await client.mutate({
    mutation: SetActionStatus,
    variables: { input: { tenantSlug: slug, controlId: action.controlId, status: 'COMPLETED' } },
  });
  assert.equal(errors, undefined);
  const payload = data.setActionStatus;
  assert.equal(payload.userErrors.length, 1, JSON.stringify(payload.userErrors));
  assert.equal(payload.userErrors[0].code, 'BAD_USER_INPUT');
  assert.deepEqual(payload.userErrors[0].field, ['input', 'status']);
  assert.equal(payload.action, null, 'nothing was changed');

  // Another invalid input: an action the tenant does not have.
  const unknown = await client.mutate({
    mutation: SetActionStatus,
    variables: { input: { tenantSlug: slug, controlId: 'NoSuchControl', status: 'PLANNED' } },
  });
  assert.equal(unknown.errors, undefined);
  assert.equal(unknown.data.setActionStatus.userErrors.length, 1);
  assert.match(unknown.data.setActionStatus.userErrors[0].code, /^(NOT_FOUND|BAD_USER_INPUT)$/);
});

test('a missing tenant is NOT_FOUND in errors, and tenant: null with errorPolicy all', async () => {
  const client = makeClient(tokens.reader);
  const variables = { slug: 'no-such-tenant' };
  await assert.rejects(client.query({ query: TenantScore, variables }), (e) => {
    assert.ok(e instanceof ApolloError);
    assert.equal(e.graphQLErrors[0].extensions.code, 'NOT_FOUND');
    return true;
  });
  const result = await client.query({ query: TenantScore, variables, errorPolicy: 'all', fetchPolicy: 'network-only' });
  assert.equal(result.errors?.[0]?.extensions?.code, 'NOT_FOUND', JSON.stringify(result.errors));
  assert.deepEqual(result.errors[0].path, ['tenant']);
  assert.deepEqual(result.data, { tenant: null });
});

test('a READER changing a status is FORBIDDEN in errors, and nothing changes', async () => {
  const reader = makeClient(tokens.reader);
  const operator = makeClient(tokens.operator);
  const action = await openAction(operator);
  const variables = { input: { tenantSlug: slug, controlId: action.controlId, status: 'PLANNED' } };
  await assert.rejects(reader.mutate({ mutation: SetActionStatus, variables }), (e) => {
    assert.ok(e instanceof ApolloError);
    assert.equal(e.graphQLErrors[0].extensions.code, 'FORBIDDEN');
    return true;
  });
  const result = await reader.mutate({ mutation: SetActionStatus, variables, errorPolicy: 'all' });
  assert.equal(result.errors?.[0]?.extensions?.code, 'FORBIDDEN', JSON.stringify(result.errors));
  assert.equal(result.data ?? null, null, 'the non-null payload makes data null');
  const again = await openAction(operator);
  assert.equal(again.id, action.id, 'the action is still TO_ADDRESS');
});
