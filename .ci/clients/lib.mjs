// What the Apollo and urql tests share: the server's address and tokens (from .ci/clients/run),
// the operations of operations.graphql, a plain-fetch mutation for changes made "by someone
// else", and a queue to await subscription items one by one.

import { readFileSync } from 'node:fs';
import { parse, visit } from 'graphql';

export const url = process.env.SECURESCORE_URL; // http://127.0.0.1:PORT
export const wsUrl = url && `${url.replace(/^http/, 'ws')}/graphql/ws`;
export const tokens = {
  reader: process.env.SECURESCORE_READER_TOKEN,
  operator: process.env.SECURESCORE_OPERATOR_TOKEN,
};
export const slug = process.env.SECURESCORE_TENANT ?? 'contoso-bank';
if (!(url && tokens.reader && tokens.operator)) {
  // Not a skip: a run that tests nothing must not look green.
  throw new Error('set SECURESCORE_URL, SECURESCORE_READER_TOKEN and SECURESCORE_OPERATOR_TOKEN (see .ci/clients/run)');
}

export const schemaSdl = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
const operationsDoc = parse(readFileSync(new URL('operations.graphql', import.meta.url), 'utf8'));

/** The operation `name` of operations.graphql with the fragments it uses, as its own document. */
export function operation(name) {
  const op = operationsDoc.definitions.find(
    (d) => d.kind === 'OperationDefinition' && d.name?.value === name,
  );
  if (!op) throw new Error(`no operation ${name} in operations.graphql`);
  const fragments = new Map(
    operationsDoc.definitions.filter((d) => d.kind === 'FragmentDefinition').map((d) => [d.name.value, d]),
  );
  const used = new Set();
  const collect = (node) =>
    visit(node, {
      FragmentSpread(spread) {
        const n = spread.name.value;
        if (!used.has(n)) {
          used.add(n);
          collect(fragments.get(n));
        }
      },
    });
  collect(op);
  return { kind: 'Document', definitions: [op, ...[...used].map((n) => fragments.get(n))] };
}

/** A POST /graphql outside any client cache; returns the whole JSON response. */
export async function rawGraphql(token, query, variables) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

/** Plans `controlId` over plain HTTP (not through the client under test); the new planned points. */
export async function planElsewhere(controlId) {
  const body = await rawGraphql(
    tokens.operator,
    `mutation($i: SetActionStatusInput!) { setActionStatus(input: $i) {
       score { planned { points } } userErrors { code message } } }`,
    { i: { tenantSlug: slug, controlId, status: 'PLANNED', comment: 'planned by another client' } },
  );
  if (body.errors || body.data.setActionStatus.userErrors.length) {
    throw new Error(`planning ${controlId} failed: ${JSON.stringify(body)}`);
  }
  return body.data.setActionStatus.score.planned.points;
}

/** Items pushed by a subscription, awaited one at a time. */
export function queue() {
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
        const timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms);
        waiters.push((item) => {
          clearTimeout(timer);
          resolve(item);
        });
      });
    },
    /** The first item for which `pred` holds, within `ms` overall. */
    async until(pred, ms = 10_000) {
      const deadline = Date.now() + ms;
      const seen = [];
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching item within ${ms} ms; saw ${JSON.stringify(seen)}`);
        let item;
        try {
          item = await this.next(left);
        } catch {
          throw new Error(`no matching item within ${ms} ms; saw ${JSON.stringify(seen)}`);
        }
        if (pred(item)) return item;
        seen.push(item);
      }
    },
  };
}

/** Asserts a list of ids has no duplicates (returns them). */
export function uniqueIds(ids) {
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dupes.length) throw new Error(`duplicate ids: ${dupes.join(', ')}`);
  return ids;
}
