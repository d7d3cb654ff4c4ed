// The improvement actions page (`/tenants/{slug}/actions[/{controlId}]`): the score in brief,
// search, every filter of `ImprovementActionFilter`, order, grouping and cursor paging (all kept
// in the URL's query so a view can be shared), the list of actions, and the action flyout
// (flyout.js) for `/actions/{controlId}` without drawing the list again.

import { gql } from '../api.js';
import {
  CATEGORY_LABELS, LEVEL_LABELS, STATUS_LABELS, TIER_LABELS,
  errorBox, fmtDate, fmtDelta, fmtPercent, fmtPoints, h, humanize, loading, replace, statusBadge,
} from '../dom.js';
import { createFlyout } from '../flyout.js';
import { closeMenusOnOutsideClick, debounce, filterMenu, pagedLoader, plural, tagChip } from '../widgets.js';

const PAGE_SIZE = 25;

const STATUSES = Object.keys(STATUS_LABELS);
const CATEGORIES = Object.keys(CATEGORY_LABELS);
const TIERS = Object.keys(TIER_LABELS);
const LEVELS = Object.keys(LEVEL_LABELS);

const ORDER_FIELDS = {
  RANK: 'Rank',
  POINTS_REMAINING: 'Points remaining',
  MAX_POINTS: 'Max points',
  SCORE_IMPACT: 'Score impact',
  TITLE: 'Title',
  UPDATED_AT: 'Last updated',
};
/** The direction a column header sorts in first. */
const FIRST_DIRECTION = { RANK: 'ASC', TITLE: 'ASC', POINTS_REMAINING: 'DESC', MAX_POINTS: 'DESC', SCORE_IMPACT: 'DESC', UPDATED_AT: 'DESC' };

const GROUPS = { CATEGORY: 'Category', STATUS: 'Status', SERVICE: 'Service', TIER: 'Tier', TAG: 'Tag' };

/** List filters and their URL query names. */
const MULTI = {
  statuses: 'status',
  categories: 'category',
  services: 'service',
  tiers: 'tier',
  userImpacts: 'impact',
  implementationCosts: 'cost',
  tagsAny: 'tag',
  tagsAll: 'allTags',
  threats: 'threat',
};
const BOOLS = { licensed: 'licensed', hasPointsRemaining: 'remaining' };
const ALLOWED = { statuses: STATUSES, categories: CATEGORIES, tiers: TIERS, userImpacts: LEVELS, implementationCosts: LEVELS };

const PAGE_QUERY = `query ActionsPage($slug: String!) {
  tenant(slug: $slug) {
    id
    enabledServices
    tags { id name color }
    secureScore { id current { points max percentage } }
    services: improvementActionGroups(groupBy: SERVICE, filter: { statuses: [${STATUSES.join(', ')}] }) { key }
  }
  controls(first: 100, filter: { includeDeprecated: true }) { nodes { threats } }
}`;

const LIST_QUERY = `query ActionsList($slug: String!, $filter: ImprovementActionFilter, $orderBy: ImprovementActionOrder,
  $first: Int, $after: String, $last: Int, $before: String, $groupBy: ImprovementActionGroupBy!, $grouped: Boolean!) {
  tenant(slug: $slug) {
    id
    improvementActions(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes {
        id controlId title category service status rank maxPoints pointsAchieved pointsRemaining scoreImpact
        licensed userImpact updatedAt tags { id name color }
      }
    }
    improvementActionGroups(groupBy: $groupBy, filter: $filter) @include(if: $grouped) {
      key count pointsAchieved pointsAvailable pointsRemaining
    }
  }
}`;

// --- state <-> URL --------------------------------------------------------------------------------

function emptyState() {
  return {
    search: '',
    statuses: [], categories: [], services: [], tiers: [], userImpacts: [], implementationCosts: [],
    tagsAny: [], tagsAll: [], threats: [],
    licensed: null, hasPointsRemaining: null,
    order: 'RANK', direction: 'ASC', groupBy: null,
    after: null, before: null, page: 1,
  };
}

function readState(query) {
  const s = emptyState();
  s.search = query.get('q') ?? '';
  for (const [field, param] of Object.entries(MULTI)) {
    const values = [...new Set(query.getAll(param).filter(Boolean))];
    s[field] = ALLOWED[field] ? values.filter((v) => ALLOWED[field].includes(v)) : values;
  }
  for (const [field, param] of Object.entries(BOOLS)) {
    const v = query.get(param);
    s[field] = v === 'yes' ? true : v === 'no' ? false : null;
  }
  const order = query.get('order');
  if (order && ORDER_FIELDS[order]) s.order = order;
  if (query.get('dir') === 'DESC') s.direction = 'DESC';
  const group = query.get('group');
  if (group && GROUPS[group]) s.groupBy = group;
  s.after = query.get('after') || null;
  s.before = s.after ? null : query.get('before') || null;
  const page = Number.parseInt(query.get('page') ?? '1', 10);
  s.page = s.after || s.before ? Math.max(1, Number.isFinite(page) ? page : 1) : 1;
  return s;
}

function queryOf(s) {
  const q = { q: s.search.trim() || null };
  for (const [field, param] of Object.entries(MULTI)) q[param] = s[field];
  for (const [field, param] of Object.entries(BOOLS)) q[param] = s[field] === null ? null : s[field] ? 'yes' : 'no';
  q.order = s.order === 'RANK' ? null : s.order;
  q.dir = s.direction === 'DESC' ? 'DESC' : null;
  q.group = s.groupBy;
  q.after = s.after;
  q.before = s.before;
  q.page = s.page > 1 ? String(s.page) : null;
  return q;
}

function filterOf(s) {
  const f = {};
  if (s.search.trim()) f.search = s.search.trim();
  for (const field of Object.keys(MULTI)) if (s[field].length) f[field] = s[field];
  for (const field of Object.keys(BOOLS)) if (s[field] !== null) f[field] = s[field];
  return f;
}

function activeFilterCount(s) {
  return Object.keys(filterOf(s)).length;
}

// --- page ---------------------------------------------------------------------------------------

export async function render(ctx) {
  const slug = ctx.params.slug;
  const base = `/tenants/${encodeURIComponent(slug)}/actions`;
  let state = readState(ctx.query);
  let meta = null;
  let lastList = null;

  // Page-level data: tags, services, threats, the score.
  const data = await gql(PAGE_QUERY, { slug }, { signal: ctx.signal });
  if (!data.tenant) throw Object.assign(new Error(`There is no tenant “${slug}”.`), { code: 'NOT_FOUND' });
  const threatNames = new Map();
  for (const c of data.controls.nodes) for (const t of c.threats) if (!threatNames.has(t.toLowerCase())) threatNames.set(t.toLowerCase(), t);
  meta = {
    tags: data.tenant.tags,
    services: [...new Set([...data.tenant.enabledServices, ...data.tenant.services.map((g) => g.key)])]
      .sort((a, b) => a.localeCompare(b)),
    threats: [...threatNames.values()].sort((a, b) => a.localeCompare(b)),
  };

  // --- the score in brief ---
  const summary = scoreSummary(slug);
  summary.set(data.tenant.secureScore.current);
  ctx.live.onScore((score) => summary.set(score.current));

  // --- layout ---
  const toolbar = h('div', { class: 'toolbar', role: 'search', 'aria-label': 'Find actions' });
  const viewbar = h('div', { class: 'viewbar' });
  const groupsBox = h('section', { class: 'groups', 'aria-label': 'Groups', hidden: true });
  const countLine = h('p', { class: 'count-line', role: 'status', 'aria-live': 'polite' });
  const listBox = h('div', { class: 'list-box' }, loading('Loading the actions'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of actions' });
  const listRegion = h('div', { class: 'list-region' },
    h('header', { class: 'page-head' },
      h('div', { class: 'page-title' },
        h('h1', {}, 'Improvement actions'),
        h('p', { class: 'muted' }, 'What to do next, ranked by what it brings to the score.')),
      summary.el),
    toolbar, viewbar, groupsBox, countLine, listBox, pager);
  const root = h('div', { class: 'page-actions' }, listRegion);
  replace(ctx.main, root);
  ctx.onCleanup(closeMenusOnOutsideClick(root));

  // --- the flyout ---
  let pushedFlyout = false;
  const flyout = createFlyout({
    host: root,
    slug,
    canWrite: ctx.canWrite,
    isAdmin: ctx.isAdmin,
    viewerName: ctx.viewer?.name ?? null,
    tenantTags: meta.tags,
    inert: listRegion,
    onScore: (current) => summary.set(current),
    onRequestClose: () => {
      if (pushedFlyout) {
        pushedFlyout = false;
        history.back();
      } else {
        ctx.navigate(base + window.location.search);
      }
    },
  });
  ctx.onCleanup(() => flyout.destroy());

  function openAction(controlId, opener) {
    flyout.setOpener(opener);
    pushedFlyout = true;
    ctx.navigate(`${base}/${encodeURIComponent(controlId)}${window.location.search}`);
  }

  // --- controls ---
  const searchInput = h('input', {
    type: 'search',
    id: 'actions-search',
    class: 'search',
    placeholder: 'Search title, control id or remediation',
    autocomplete: 'off',
    value: state.search,
  });
  const runSearch = debounce(() => {
    if (searchInput.value === state.search) return;
    state.search = searchInput.value;
    changed();
  }, 300);
  searchInput.addEventListener('input', runSearch);
  searchInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      runSearch.cancel();
      if (searchInput.value !== state.search) {
        state.search = searchInput.value;
        changed();
      }
    }
  });
  ctx.onCleanup(() => runSearch.cancel());

  /** A filter changed: back to the first page, URL and list follow. */
  function changed({ keepPage = false } = {}) {
    if (!keepPage) {
      state.after = null;
      state.before = null;
      state.page = 1;
    }
    ctx.setQuery(queryOf(state));
    paintClear();
    load();
  }
  const changedSoon = debounce(() => changed(), 200);
  ctx.onCleanup(() => changedSoon.cancel());

  const clearButton = h('button', {
    type: 'button',
    class: 'link clear-filters',
    onclick: () => {
      const keep = { order: state.order, direction: state.direction, groupBy: state.groupBy };
      state = { ...emptyState(), ...keep };
      searchInput.value = '';
      drawToolbar();
      changed();
      searchInput.focus();
    },
  }, 'Clear filters');
  function paintClear() {
    clearButton.hidden = activeFilterCount(state) === 0;
  }

  const opts = (labels) => Object.entries(labels).map(([value, label]) => ({ value, label }));
  const yesNo = [{ value: 'yes', label: 'Yes' }, { value: 'no', label: 'No' }];

  function drawToolbar() {
    const multi = (key, label, options, hint) => filterMenu({
      key, label, options, hint, selected: state[key],
      onChange: (values) => { state[key] = values; changedSoon(); },
    });
    const bool = (key, label, yes, no) => filterMenu({
      key, label, single: true,
      options: [{ value: 'yes', label: yes }, { value: 'no', label: no }],
      selected: state[key] === null ? null : state[key] ? 'yes' : 'no',
      onChange: (value) => { state[key] = value === null ? null : value === 'yes'; changedSoon(); },
    });
    const tagOptions = meta.tags.map((t) => ({ value: t.name, label: t.name, color: t.color }));
    // Values from a shared URL that this tenant does not list stay choosable.
    const withExtra = (options, values) => [...options, ...values
      .filter((v) => !options.some((o) => o.value.toLowerCase() === v.toLowerCase()))
      .map((v) => ({ value: v, label: v }))];
    replace(toolbar,
      h('label', { class: 'visually-hidden', for: 'actions-search' }, 'Search actions'),
      searchInput,
      h('div', { class: 'filters' },
        multi('statuses', 'Status', opts(STATUS_LABELS), 'None chosen: every status but Risk accepted.'),
        multi('categories', 'Category', opts(CATEGORY_LABELS)),
        multi('services', 'Service', withExtra(meta.services.map((s) => ({ value: s, label: s })), state.services)),
        multi('tiers', 'Tier', opts(TIER_LABELS)),
        multi('userImpacts', 'User impact', opts(LEVEL_LABELS)),
        multi('implementationCosts', 'Cost', opts(LEVEL_LABELS)),
        bool('licensed', 'Licensed', 'Licensed', 'Not licensed'),
        bool('hasPointsRemaining', 'Points left', 'Points left to gain', 'Nothing left to gain'),
        multi('tagsAny', 'Tags (any)', withExtra(tagOptions, state.tagsAny), 'Tagged with at least one of these.'),
        multi('tagsAll', 'Tags (all)', withExtra(tagOptions, state.tagsAll), 'Tagged with every one of these.'),
        multi('threats', 'Threat', withExtra(meta.threats.map((t) => ({ value: t, label: t })), state.threats)),
        clearButton));
    paintClear();
  }

  const orderSelect = h('select', {
    id: 'actions-order',
    onchange: () => { state.order = orderSelect.value; changed(); paintSort(); },
  }, Object.entries(ORDER_FIELDS).map(([value, label]) => h('option', { value, selected: value === state.order }, label)));
  const dirSelect = h('select', {
    id: 'actions-direction',
    onchange: () => { state.direction = dirSelect.value; changed(); paintSort(); },
  }, h('option', { value: 'ASC', selected: state.direction === 'ASC' }, 'Ascending'),
  h('option', { value: 'DESC', selected: state.direction === 'DESC' }, 'Descending'));
  const groupSelect = h('select', {
    id: 'actions-group',
    onchange: () => { state.groupBy = groupSelect.value || null; changed({ keepPage: true }); },
  }, h('option', { value: '', selected: !state.groupBy }, 'No grouping'),
  Object.entries(GROUPS).map(([value, label]) => h('option', { value, selected: value === state.groupBy }, label)));

  replace(viewbar,
    h('span', { class: 'field' }, h('label', { for: 'actions-order' }, 'Order by'), orderSelect),
    h('span', { class: 'field' }, h('label', { for: 'actions-direction' }, 'Direction'), dirSelect),
    h('span', { class: 'field' }, h('label', { for: 'actions-group' }, 'Group by'), groupSelect));

  function paintSort() {
    orderSelect.value = state.order;
    dirSelect.value = state.direction;
    groupSelect.value = state.groupBy ?? '';
  }

  function sortBy(field) {
    if (state.order === field) state.direction = state.direction === 'ASC' ? 'DESC' : 'ASC';
    else {
      state.order = field;
      state.direction = FIRST_DIRECTION[field];
    }
    paintSort();
    changed();
  }

  // --- the list ---
  const load = pagedLoader({
    ctx,
    state,
    queryOf,
    pageSize: PAGE_SIZE,
    busy: listBox,
    fetchPage: (cursor, signal) => gql(LIST_QUERY, {
      slug,
      filter: filterOf(state),
      orderBy: { field: state.order, direction: state.direction },
      groupBy: state.groupBy ?? 'CATEGORY',
      grouped: Boolean(state.groupBy),
      ...cursor,
    }, { signal }),
    connectionOf: (data) => data.tenant.improvementActions,
    draw: (data, connection) => {
      lastList = connection;
      drawGroups(data.tenant.improvementActionGroups ?? null);
      drawList(connection);
      drawPager(connection);
    },
    fail: (err, quiet) => {
      if (!quiet) replace(listBox, errorBox(err, { title: 'The actions could not be loaded' }));
    },
  });

  function drawGroups(groups) {
    if (!groups) {
      groupsBox.hidden = true;
      replace(groupsBox);
      return;
    }
    groupsBox.hidden = false;
    const by = state.groupBy;
    const label = (key) => {
      if (by === 'CATEGORY') return CATEGORY_LABELS[key] ?? humanize(key);
      if (by === 'STATUS') return STATUS_LABELS[key] ?? humanize(key);
      if (by === 'TIER') return TIER_LABELS[key] ?? humanize(key);
      return key;
    };
    const narrow = (key) => {
      if (by === 'TAG' && key === '(untagged)') return null;
      const field = { CATEGORY: 'categories', STATUS: 'statuses', SERVICE: 'services', TIER: 'tiers', TAG: 'tagsAny' }[by];
      return () => {
        state[field] = [key];
        drawToolbar();
        changed();
      };
    };
    const totals = groups.reduce((t, g) => ({
      count: t.count + g.count,
      achieved: t.achieved + g.pointsAchieved,
      available: t.available + g.pointsAvailable,
    }), { count: 0, achieved: 0, available: 0 });
    replace(groupsBox,
      h('h2', {}, `By ${GROUPS[by].toLowerCase()}`),
      groups.length === 0
        ? h('p', { class: 'muted' }, 'No actions match these filters.')
        : h('div', { class: 'table-wrap' }, h('table', { class: 'group-table' },
          h('caption', { class: 'visually-hidden' }, `Actions by ${GROUPS[by].toLowerCase()}`),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, GROUPS[by]),
            h('th', { scope: 'col', class: 'num' }, 'Actions'),
            h('th', { scope: 'col', class: 'num' }, 'Achieved'),
            h('th', { scope: 'col', class: 'num' }, 'Available'),
            h('th', { scope: 'col', class: 'num' }, 'Remaining'),
            h('th', { scope: 'col', class: 'bar-col' }, h('span', { class: 'visually-hidden' }, 'Share achieved')))),
          h('tbody', {}, groups.map((g) => {
            const fill = h('span', { class: 'bar-fill' });
            fill.style.width = `${g.pointsAvailable > 0 ? Math.min(100, (g.pointsAchieved / g.pointsAvailable) * 100) : 0}%`;
            const onNarrow = narrow(g.key);
            return h('tr', { 'data-testid': `group-${g.key}`, dataset: { groupKey: g.key } },
              h('th', { scope: 'row' }, onNarrow
                ? h('button', { type: 'button', class: 'link', title: 'Show only these actions', onclick: onNarrow }, label(g.key))
                : label(g.key)),
              h('td', { class: 'num', 'data-label': 'Actions' }, String(g.count)),
              h('td', { class: 'num', 'data-label': 'Achieved' }, fmtPoints(g.pointsAchieved)),
              h('td', { class: 'num', 'data-label': 'Available' }, fmtPoints(g.pointsAvailable)),
              h('td', { class: 'num', 'data-label': 'Remaining' }, fmtPoints(g.pointsRemaining)),
              h('td', { class: 'bar-col', 'aria-hidden': 'true' }, h('span', { class: 'bar' }, fill)));
          })))),
      by === 'TAG' && groups.length > 0
        ? h('p', { class: 'hint' }, 'An action with several tags counts in each of their groups.')
        : h('p', { class: 'hint' }, `${plural(totals.count, 'action')} in ${plural(groups.length, 'group')}.`));
  }

  const sortHeader = (field, label, cls) => {
    const active = state.order === field;
    return h('th', {
      scope: 'col',
      class: cls ?? null,
      'aria-sort': active ? (state.direction === 'ASC' ? 'ascending' : 'descending') : null,
    }, h('button', { type: 'button', class: 'sort', onclick: () => sortBy(field) }, label));
  };

  function drawList(connection) {
    const rows = connection.nodes;
    countLine.textContent = plural(connection.totalCount, 'action');
    if (state.statuses.length === 0) {
      countLine.append(h('span', { class: 'muted' }, ' · risk-accepted ones are left out unless you filter by status'));
    }
    if (rows.length === 0) {
      replace(listBox, h('div', { class: 'empty card' },
        h('p', {}, activeFilterCount(state) ? 'No action matches these filters.' : 'This tenant has no improvement actions.'),
        activeFilterCount(state) ? h('button', { type: 'button', onclick: () => clearButton.click() }, 'Clear filters') : null));
      return;
    }
    const focusedId = document.activeElement?.closest?.('tr[data-control-id]')?.dataset.controlId;
    const table = h('table', { class: 'action-table' },
      h('caption', { class: 'visually-hidden' }, 'Improvement actions'),
      h('thead', {}, h('tr', {},
        sortHeader('RANK', 'Rank', 'num rank-col'),
        sortHeader('TITLE', 'Action'),
        h('th', { scope: 'col' }, 'Category'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Tags'),
        sortHeader('MAX_POINTS', 'Points', 'num'),
        sortHeader('SCORE_IMPACT', 'Score impact', 'num'),
        h('th', { scope: 'col' }, 'Licensed'),
        h('th', { scope: 'col' }, 'User impact'),
        sortHeader('UPDATED_AT', 'Updated'))),
      h('tbody', {}, rows.map((a) => actionRow(a))));
    replace(listBox, h('div', { class: 'table-wrap' }, table));
    if (focusedId) listBox.querySelector(`tr[data-control-id="${CSS.escape(focusedId)}"] a`)?.focus();
  }

  function actionRow(a) {
    const href = `${base}/${encodeURIComponent(a.controlId)}${window.location.search}`;
    const link = h('a', {
      href,
      class: 'action-link',
      onclick: (event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        openAction(a.controlId, link);
      },
    }, a.title);
    return h('tr', { dataset: { controlId: a.controlId, status: a.status } },
      h('td', { class: 'num rank-col', 'data-label': 'Rank' }, a.rank === null ? h('span', { class: 'muted', title: 'Not ranked' }, '–') : String(a.rank)),
      h('td', { class: 'title-col' }, link, h('div', { class: 'control-id' }, a.controlId)),
      h('td', { 'data-label': 'Category' }, CATEGORY_LABELS[a.category] ?? humanize(a.category)),
      h('td', { 'data-label': 'Status' }, statusBadge(a.status)),
      h('td', { 'data-label': 'Tags', class: 'tags-col' }, a.tags.length
        ? h('span', { class: 'tag-list' }, a.tags.map((t) => tagChip(t)))
        : h('span', { class: 'muted' }, '–')),
      h('td', { class: 'num', 'data-label': 'Points' },
        h('span', { class: 'points' }, fmtPoints(a.pointsAchieved)), h('span', { class: 'muted' }, ` / ${fmtPoints(a.maxPoints)}`)),
      h('td', { class: 'num', 'data-label': 'Score impact' }, a.scoreImpact > 0 ? fmtDelta(a.scoreImpact, ' %') : h('span', { class: 'muted' }, fmtPercent(a.scoreImpact))),
      h('td', { 'data-label': 'Licensed' }, a.licensed ? 'Yes' : h('span', { class: 'badge unlicensed' }, 'No')),
      h('td', { 'data-label': 'User impact' }, LEVEL_LABELS[a.userImpact] ?? humanize(a.userImpact)),
      h('td', { 'data-label': 'Updated', class: 'date-col' }, h('time', { datetime: a.updatedAt }, fmtDate(a.updatedAt))));
  }

  function drawPager(connection) {
    const start = (state.page - 1) * PAGE_SIZE + 1;
    const end = start + connection.nodes.length - 1;
    const info = connection.nodes.length
      ? h('span', { class: 'page-info', 'data-testid': 'page-info' }, `${start}–${end} of ${connection.totalCount}`)
      : null;
    const prev = h('button', {
      type: 'button',
      disabled: !connection.pageInfo.hasPreviousPage,
      onclick: () => {
        state.page = Math.max(1, state.page - 1);
        if (state.page === 1) {
          state.after = null;
          state.before = null;
        } else {
          state.before = lastList.pageInfo.startCursor;
          state.after = null;
        }
        changed({ keepPage: true });
        countLine.scrollIntoView({ block: 'nearest' });
      },
    }, '← Previous');
    const next = h('button', {
      type: 'button',
      disabled: !connection.pageInfo.hasNextPage,
      onclick: () => {
        state.page += 1;
        state.after = lastList.pageInfo.endCursor;
        state.before = null;
        changed({ keepPage: true });
        countLine.scrollIntoView({ block: 'nearest' });
      },
    }, 'Next →');
    const single = !connection.pageInfo.hasNextPage && !connection.pageInfo.hasPreviousPage;
    replace(pager, single ? info : [prev, info, next]);
  }

  // --- live ---
  const refetch = debounce(() => load({ quiet: true }), 300);
  ctx.onCleanup(() => refetch.cancel());
  ctx.live.onEvent((event) => {
    refetch();
    flyout.onEvent(event);
  });

  drawToolbar();
  paintSort();
  ctx.setQuery(queryOf(state));
  if (ctx.params.controlId) flyout.open(ctx.params.controlId);
  await load();

  return {
    update(next) {
      const controlId = next.params.controlId;
      if (!controlId) {
        // Back or forward to another list view (its query differs): take it.
        const wanted = new URLSearchParams(next.query);
        const fresh = readState(wanted);
        if (JSON.stringify(queryOf(fresh)) !== JSON.stringify(queryOf(state))) {
          state = fresh;
          searchInput.value = state.search;
          drawToolbar();
          paintSort();
          load();
        }
        pushedFlyout = false;
        flyout.close();
      } else {
        flyout.open(controlId);
      }
    },
  };
}

/** The compact score at the top, with the stable test hooks. */
function scoreSummary(slug) {
  const points = h('span', { class: 'score-points', 'data-testid': 'score-points' }, '–');
  const max = h('span', { 'data-testid': 'score-max' }, '–');
  const percentage = h('span', { class: 'score-percentage', 'data-testid': 'score-percentage' }, '–');
  const fill = h('span', { class: 'bar-fill' });
  const el = h('section', { class: 'score-summary card', 'data-testid': 'score-summary', 'aria-label': 'Secure Score' },
    h('div', { class: 'score-head' },
      h('span', { class: 'score-label' }, 'Secure Score'),
      h('a', { href: `/tenants/${encodeURIComponent(slug)}`, class: 'score-more' }, 'Overview')),
    h('div', { class: 'score-line' },
      points, h('span', { class: 'score-of' }, ' / ', max, ' points'), percentage),
    h('span', { class: 'bar', 'aria-hidden': 'true' }, fill));
  let last = null;
  return {
    el,
    set(current) {
      if (!current) return;
      points.textContent = fmtPoints(current.points);
      max.textContent = fmtPoints(current.max);
      percentage.textContent = fmtPercent(current.percentage);
      fill.style.width = `${Math.max(0, Math.min(100, current.percentage))}%`;
      if (last !== null && last !== current.points) {
        el.classList.remove('changed');
        // Restart the highlight.
        void el.offsetWidth;
        el.classList.add('changed');
      }
      last = current.points;
    },
  };
}
