// The tenants page (`/`): an MSP's start page. Every tenant the token can read, with the
// viewer's role, the current score, its zone and the change over the last 30 days; sortable by
// every column. The numbers come in one aliased query per ten tenants (the API limits aliases
// per operation), run in parallel.

import { gql } from '../api.js';
import {
  errorBox, fmtDelta, fmtPercent, fmtPoints, h, replace, zoneBadge,
} from '../dom.js';

/** Tenants per query (the API allows 15 aliases per operation). */
const CHUNK = 10;

const TENANT_FIELDS = `fragment TenantsPageRow on Tenant {
  id
  slug
  secureScore { current { points max percentage } }
  goals { zones { currentZone } }
  trends { netChange }
}`;

/** One query for `slugs`, each tenant under its own alias, the slugs passed as variables. */
function chunkQuery(slugs) {
  const vars = slugs.map((_, i) => `$s${i}: String!`).join(', ');
  const fields = slugs.map((_, i) => `t${i}: tenant(slug: $s${i}) { ...TenantsPageRow }`).join('\n  ');
  const variables = Object.fromEntries(slugs.map((slug, i) => [`s${i}`, slug]));
  return { query: `query TenantsPage(${vars}) {\n  ${fields}\n}\n${TENANT_FIELDS}`, variables };
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

const ROLE_ORDER = { READER: 1, OPERATOR: 2, ADMIN: 3 };
const ZONE_ORDER = { BAD: 1, OKAY: 2, GOOD: 3 };
const ROLE_LABELS = { READER: 'Reader', OPERATOR: 'Operator', ADMIN: 'Admin' };

const COLUMNS = [
  { key: 'name', label: 'Tenant', value: (r) => r.name, text: true },
  { key: 'role', label: 'Your role', value: (r) => ROLE_ORDER[r.role] ?? 0 },
  { key: 'points', label: 'Score (points / max)', value: (r) => r.current?.points ?? null, num: true },
  { key: 'percentage', label: 'Percentage', value: (r) => r.current?.percentage ?? null, num: true },
  { key: 'zone', label: 'Zone', value: (r) => (r.loaded ? ZONE_ORDER[r.zone] ?? 0 : null) },
  { key: 'change', label: '30-day change', value: (r) => r.netChange ?? null, num: true },
];

export async function render(ctx) {
  const accesses = ctx.viewer?.tenants ?? [];
  const root = h('div', { class: 'page-tenants' });
  replace(ctx.main, root);

  if (!accesses.length) {
    replace(root,
      h('h1', {}, 'Tenants'),
      h('div', { class: 'card tn-empty', 'data-testid': 'no-tenants' },
        h('h2', {}, 'No tenant yet'),
        h('p', {}, `This token (${ctx.viewer?.name ?? 'you'}) has no role on any tenant, so there is no score to show.`),
        h('p', {}, 'Ask an administrator of your organisation to grant you a role (reader, operator or admin) on a tenant, ',
          'or sign in with another token. Once granted, the tenant appears here.')));
    return;
  }

  const q = ctx.query;
  const sort = {
    key: COLUMNS.some((c) => c.key === q.get('sort')) ? q.get('sort') : 'name',
    dir: q.get('dir') === 'desc' ? 'desc' : 'asc',
  };

  const rows = accesses.map((a) => ({
    slug: a.tenant.slug,
    name: a.tenant.name,
    role: a.role,
    loaded: false,
    current: null,
    zone: null,
    netChange: null,
    failed: false,
  }));
  const bySlug = new Map(rows.map((r) => [r.slug, r]));

  const count = h('p', { class: 'tn-count', 'data-testid': 'tenant-count' });
  const errors = h('div', { class: 'tn-errors' });
  const tableHost = h('div', { class: 'card tn-card' });
  replace(root,
    h('div', { class: 'tn-head' },
      h('h1', {}, 'Tenants'),
      count),
    h('p', { class: 'muted tn-intro' },
      'Microsoft Secure Score of every tenant you can read. Open a tenant for its overview, improvement actions and history.'),
    errors,
    tableHost);

  function paintCount() {
    const n = rows.length;
    count.textContent = `${n} ${n === 1 ? 'tenant' : 'tenants'}`;
  }

  function sortedRows() {
    const col = COLUMNS.find((c) => c.key === sort.key);
    const factor = sort.dir === 'asc' ? 1 : -1;
    return [...rows].sort((a, b) => {
      const va = col.value(a);
      const vb = col.value(b);
      // Unknown values last, whatever the direction.
      if (va === null && vb !== null) return 1;
      if (vb === null && va !== null) return -1;
      if (va !== null && vb !== null && va !== vb) {
        if (col.text) return factor * collator.compare(va, vb) || factor * (va < vb ? -1 : 1);
        return factor * (va < vb ? -1 : 1);
      }
      return collator.compare(a.name, b.name) || (a.slug < b.slug ? -1 : 1);
    });
  }

  function setSort(key) {
    if (sort.key === key) sort.dir = sort.dir === 'asc' ? 'desc' : 'asc';
    else {
      sort.key = key;
      // Names A→Z first; numbers best first.
      sort.dir = key === 'name' ? 'asc' : 'desc';
    }
    ctx.setQuery({ sort: sort.key === 'name' ? null : sort.key, dir: sort.key === 'name' && sort.dir === 'asc' ? null : sort.dir });
    paintTable();
    document.getElementById(`tn-sort-${key}`)?.focus();
  }

  function cell(row, key) {
    if (!row.loaded) {
      return row.failed ? h('span', { class: 'muted', title: 'Could not be loaded' }, '–') : h('span', { class: 'tn-pending', 'aria-label': 'Loading' }, '…');
    }
    switch (key) {
      case 'points':
        return h('span', { class: 'tn-points' },
          h('span', { 'data-testid': 'score-points' }, fmtPoints(row.current.points)),
          h('span', { class: 'tn-of' }, ' / '),
          h('span', { 'data-testid': 'score-max' }, fmtPoints(row.current.max)));
      case 'percentage': {
        const bar = h('span', { class: 'tn-bar-fill' });
        bar.style.width = `${Math.max(0, Math.min(100, row.current.percentage))}%`;
        return h('span', { class: 'tn-pct' },
          h('span', { class: 'tn-bar', 'aria-hidden': 'true' }, bar),
          h('span', { 'data-testid': 'score-percentage' }, fmtPercent(row.current.percentage)));
      }
      case 'zone':
        return zoneBadge(row.zone);
      case 'change': {
        const v = row.netChange;
        const tone = v > 0 ? 'up' : v < 0 ? 'down' : 'flat';
        return h('span', { class: `tn-delta tn-delta-${tone}`, 'data-testid': 'net-change' },
          h('span', { class: 'tn-arrow', 'aria-hidden': 'true' }, v > 0 ? '▲ ' : v < 0 ? '▼ ' : ''),
          fmtDelta(v),
          h('span', { class: 'visually-hidden' }, ' points'));
      }
      default:
        return '';
    }
  }

  function paintTable() {
    const head = h('tr', {}, COLUMNS.map((c) => h('th', {
      scope: 'col',
      class: c.num ? 'num' : null,
      'aria-sort': sort.key === c.key ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none',
    }, h('button', {
      type: 'button', class: 'sort', id: `tn-sort-${c.key}`, dataset: { sort: c.key },
      onclick: () => setSort(c.key),
    }, c.label))));
    const body = sortedRows().map((row) => h('tr', { dataset: { tenantSlug: row.slug } },
      h('th', { scope: 'row', class: 'tn-name' },
        h('a', { href: `/tenants/${encodeURIComponent(row.slug)}` }, row.name),
        h('span', { class: 'tn-slug' }, row.slug)),
      h('td', { class: 'tn-role' }, h('span', { class: 'badge role', dataset: { role: row.role } }, ROLE_LABELS[row.role] ?? row.role)),
      h('td', { class: 'num tn-points-cell', 'data-label': 'Score' }, cell(row, 'points')),
      h('td', { class: 'num tn-pct-cell' }, cell(row, 'percentage')),
      h('td', { class: 'tn-zone' }, cell(row, 'zone')),
      h('td', { class: 'num tn-change-cell', 'data-label': '30 days' }, cell(row, 'change'))));
    replace(tableHost,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'tn-table', 'data-testid': 'tenants-table' },
          h('caption', { class: 'visually-hidden' },
            `Tenants, sorted by ${COLUMNS.find((c) => c.key === sort.key).label} ${sort.dir === 'asc' ? 'ascending' : 'descending'}. `,
            'Change: net points gained over the last 30 days.'),
          h('thead', {}, head),
          h('tbody', {}, body))));
  }

  paintCount();
  paintTable();

  // --- load -----------------------------------------------------------------------------------
  async function load(slugsToLoad) {
    const chunks = [];
    for (let i = 0; i < slugsToLoad.length; i += CHUNK) chunks.push(slugsToLoad.slice(i, i + CHUNK));
    const failures = [];
    await Promise.all(chunks.map(async (slugs) => {
      const { query, variables } = chunkQuery(slugs);
      try {
        const data = await gql(query, variables, { signal: ctx.signal });
        slugs.forEach((slug, i) => {
          const row = bySlug.get(slug);
          const t = data[`t${i}`];
          if (!t) {
            row.failed = true;
            failures.push({ message: `Tenant “${row.name}” could not be read.`, code: 'NOT_FOUND' });
            return;
          }
          row.failed = false;
          row.loaded = true;
          row.current = t.secureScore.current;
          row.zone = t.goals.zones?.currentZone ?? null;
          row.netChange = t.trends.netChange;
        });
      } catch (err) {
        if (err?.name === 'AbortError' || ctx.signal.aborted) return;
        if (err?.code === 'UNAUTHENTICATED') throw err;
        slugs.forEach((slug) => { bySlug.get(slug).failed = true; });
        failures.push(err);
      }
      if (!ctx.signal.aborted) paintTable();
    }));
    if (ctx.signal.aborted) return;
    const failed = rows.filter((r) => r.failed);
    if (!failures.length || !failed.length) {
      replace(errors);
      return;
    }
    replace(errors,
      errorBox(failures[0], {
        title: `The scores of ${failed.length} ${failed.length === 1 ? 'tenant' : 'tenants'} could not be loaded`,
      }),
      h('button', {
        type: 'button',
        class: 'tn-retry',
        onclick: () => {
          failed.forEach((r) => { r.failed = false; });
          replace(errors);
          paintTable();
          load(failed.map((r) => r.slug)).catch((err) => replace(errors, errorBox(err)));
        },
      }, 'Try again'));
  }

  await load(rows.map((r) => r.slug));
}
