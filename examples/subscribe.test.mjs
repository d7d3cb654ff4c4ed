// End-to-end check of subscribe.mjs against a running server (run by .ci/run): subscribe, change
// an action's status over HTTP, and expect the new score on the subscription.
//
//   SECURESCORE_URL=http://127.0.0.1:8000 SECURESCORE_TOKEN=ssk_… SECURESCORE_TENANT=acme npm test

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, followScore } from './subscribe.mjs';

const url = process.env.SECURESCORE_URL;
const token = process.env.SECURESCORE_TOKEN;
const slug = process.env.SECURESCORE_TENANT;

/** The scores a subscription delivers, awaited one by one. */
function scoreQueue() {
  const items = [];
  const waiters = [];
  return {
    push(item) {
      const w = waiters.shift();
      if (w) w(item);
      else items.push(item);
    },
    next(ms = 10_000) {
      if (items.length) return Promise.resolve(items.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no score within ${ms} ms`)), ms);
        waiters.push((item) => {
          clearTimeout(timer);
          resolve(item);
        });
      });
    },
  };
}

async function setStatus(status) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: `mutation($i: SetActionStatusInput!) { setActionStatus(input: $i) {
                score { planned { points } } userErrors { code message } } }`,
      variables: { i: { tenantSlug: slug, controlId: 'AdminMFAV2', status } },
    }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body));
  assert.deepEqual(body.data.setActionStatus.userErrors, []);
  return body.data.setActionStatus.score;
}

test('a status change reaches the subscriber as the new score', { skip: !(url && token && slug) }, async () => {
  const client = connect(url, token);
  const scores = scoreQueue();
  const errors = [];
  const unsubscribe = followScore(client, slug, scores.push, (e) => errors.push(e));
  try {
    const initial = await scores.next();
    assert.equal(typeof initial.current.points, 'number');
    const after = await setStatus('PLANNED');
    assert.notEqual(after.planned.points, initial.planned.points, 'planning changes the planned view');
    const pushed = await scores.next();
    assert.equal(pushed.planned.points, after.planned.points);
    assert.deepEqual(errors, []);
  } finally {
    unsubscribe();
    await client.dispose();
  }
});

test('a wrong token is refused', { skip: !url }, async () => {
  const client = connect(url, 'ssk_not-a-valid-token');
  const failure = await new Promise((resolve) => {
    followScore(client, slug ?? 'any', () => resolve(null), resolve);
  });
  assert.ok(failure, 'the subscription fails');
  await client.dispose();
});
