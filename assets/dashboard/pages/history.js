// The history page (`/tenants/{slug}/history`): what changed on the tenant's actions in a date
// range (`scoreEvents`), filtered by kind, category and action, with cursor paging, live new
// events at the top, and the CSV / JSON exports. Range, filters and page are kept in the URL.

import { download, gql } from '../api.js';
import {
  CATEGORY_LABELS, announce, errorBox, fmtDate, fmtDateTime, fmtPoints, h, humanize, isoDay, loading, replace,
} from '../dom.js';
import { EVENT } from '../fragments.js';
import { EVENT_LABELS, deltaBadge, statusChange } from '../flyout.js';
import { closeMenusOnOutsideClick, debounce, filterMenu, pagedLoader } from '../widgets.js';

const PAGE_SIZE = 25;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const QUERY = `query HistoryEvents($slug: String!, $from: DateTime, $to: DateTime, $filter: EventFilter,
  $first: Int, $after: String, $last: Int, $before: String) {
  tenant(slug: $slug) {
    id
    scoreEvents(from: $from, to: $to, filter: $filter, first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { ${EVENT} }
    }
  }
}`;

const defaultFrom = () => isoDay(29);
const defaultTo = () => isoDay(0);

/** The day after `day` (YYYY-MM-DD), UTC. */
function nextDay(day) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

function readState(query) {
  const from = query.get('from');
  const to = query.get('to');
  const kinds = query.getAll('kind').filter((k) => EVENT_LABELS[k]);
  const categories = query.getAll('category').filter((c) => CATEGORY_LABELS[c]);
  const controls = [...new Set(query.getAll('control').filter(Boolean))];
  const after = query.get('after') || null;
  const before = after ? null : query.get('before') || null;
  const page = Number.parseInt(query.get('page') ?? '1', 10);
  return {
    from: from && DAY.test(from) ? from : defaultFrom(),
    to: to && DAY.test(to) ? to : defaultTo(),
    kinds: [...new Set(kinds)],
    categories: [...new Set(categories)],
    controls,
    after,
    before,
    page: after || before ? Math.max(1, Number.isFinite(page) ? page : 1) : 1,
  };
}

function queryOf(s) {
  return {
    from: s.from === defaultFrom() ? null : s.from,
    to: s.to === defaultTo() ? null : s.to,
    kind: s.kinds,
    category: s.categories,
    control: s.controls,
    after: s.after,
    before: s.before,
    page: s.page > 1 ? String(s.page) : null,
  };
}

export async function render(ctx) {
  const slug = ctx.params.slug;
  let state = readState(ctx.query);
  let last = null;
  const fresh = new Set(); // ids of events that arrived live, highlighted once
  let missed = 0; // live events not shown (not on the first page)

  // --- layout ---
  const exportBox = h('div', { class: 'export-message' });
  const exportTools = h('div', { class: 'exports', role: 'group', 'aria-label': 'Downloads' });
  const filters = h('form', { class: 'history-filters card', 'aria-label': 'Which events', onsubmit: (e) => e.preventDefault() });
  const countLine = h('p', { class: 'count-line', role: 'status', 'aria-live': 'polite' });
  const newer = h('div', { class: 'newer' });
  const listBox = h('div', { class: 'list-box' }, loading('Loading the history'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of events' });
  const root = h('div', { class: 'page-history' },
    h('header', { class: 'page-head' },
      h('div', { class: 'page-title' },
        h('h1', {}, 'History'),
        h('p', { class: 'muted' }, 'Every change to the improvement actions: who, when, and what it did to the score.')),
      h('div', { class: 'export-area' }, exportTools, exportBox)),
    filters, countLine, newer, listBox, pager);
  replace(ctx.main, root);
  ctx.onCleanup(closeMenusOnOutsideClick(root));

  // --- exports ---
  const exportButton = (label, path, filename, hint) => {
    const button = h('button', {
      type: 'button',
      title: hint,
      onclick: async () => {
        button.disabled = true;
        replace(exportBox);
        try {
          await download(path(), filename());
          announce(`${label}: download started.`);
        } catch (err) {
          replace(exportBox, errorBox(err, { title: 'The download failed' }));
        } finally {
          button.disabled = false;
        }
      },
    }, label);
    return button;
  };
  const enc = encodeURIComponent(slug);
  replace(exportTools,
    exportButton('Actions (CSV)', () => `/export/${enc}/actions.csv`, () => `${slug}-actions.csv`,
      'Every improvement action of the tenant, as a spreadsheet'),
    exportButton('Daily scores (JSON)',
      () => `/export/${enc}/history.json?from=${encodeURIComponent(state.from)}&to=${encodeURIComponent(state.to)}`,
      () => `${slug}-history-${state.from}-to-${state.to}.json`,
      'The daily score snapshots of the chosen range'));

  // --- filters ---
  function changed({ keepPage = false } = {}) {
    if (!keepPage) {
      state.after = null;
      state.before = null;
      state.page = 1;
    }
    missed = 0;
    ctx.setQuery(queryOf(state));
    load();
  }
  const changedSoon = debounce(() => changed(), 250);
  ctx.onCleanup(() => changedSoon.cancel());

  const rangeMessage = h('p', { class: 'range-message', role: 'alert', hidden: true });

  function drawFilters() {
    const fromInput = h('input', { type: 'date', id: 'history-from', value: state.from, max: defaultTo(), required: true });
    const toInput = h('input', { type: 'date', id: 'history-to', value: state.to, max: defaultTo(), required: true });
    const onDates = () => {
      if (!fromInput.value || !toInput.value) return;
      if (fromInput.value > toInput.value) {
        rangeMessage.hidden = false;
        rangeMessage.textContent = 'The start of the range is after its end.';
        return;
      }
      rangeMessage.hidden = true;
      state.from = fromInput.value;
      state.to = toInput.value;
      changedSoon();
    };
    fromInput.addEventListener('change', onDates);
    toInput.addEventListener('change', onDates);
    const preset = (days, label) => h('button', {
      type: 'button',
      class: 'preset',
      'aria-pressed': String(state.from === isoDay(days - 1) && state.to === defaultTo()),
      onclick: () => {
        state.from = isoDay(days - 1);
        state.to = defaultTo();
        drawFilters();
        changed();
      },
    }, label);

    const controlInput = h('input', {
      type: 'text',
      id: 'history-control',
      placeholder: 'e.g. MFARegistrationV2',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    const addControl = () => {
      const v = controlInput.value.trim();
      if (!v) return;
      if (!state.controls.includes(v)) state.controls = [...state.controls, v];
      drawFilters();
      changed();
      filters.querySelector('#history-control')?.focus();
    };
    controlInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        addControl();
      }
    });
    const controlChips = state.controls.map((c) => h('span', { class: 'chip control-chip' },
      h('span', {}, c),
      h('button', {
        type: 'button',
        class: 'chip-remove',
        'aria-label': `Show every action, not only ${c}`,
        onclick: () => {
          state.controls = state.controls.filter((x) => x !== c);
          drawFilters();
          changed();
          filters.querySelector('#history-control')?.focus();
        },
      }, '×')));
    const anyFilter = state.kinds.length || state.categories.length || state.controls.length;

    replace(filters,
      h('div', { class: 'range' },
        h('span', { class: 'field' }, h('label', { for: 'history-from' }, 'From'), fromInput),
        h('span', { class: 'field' }, h('label', { for: 'history-to' }, 'To'), toInput),
        h('span', { class: 'presets', role: 'group', 'aria-label': 'Quick ranges' },
          preset(7, '7 days'), preset(30, '30 days'), preset(90, '90 days'))),
      h('div', { class: 'filters' },
        filterMenu({
          key: 'kinds',
          label: 'Kind',
          options: Object.entries(EVENT_LABELS).map(([value, label]) => ({ value, label })),
          selected: state.kinds,
          onChange: (values) => { state.kinds = values; changedSoon(); },
        }),
        filterMenu({
          key: 'categories',
          label: 'Category',
          options: Object.entries(CATEGORY_LABELS).map(([value, label]) => ({ value, label })),
          selected: state.categories,
          onChange: (values) => { state.categories = values; changedSoon(); },
        }),
        h('span', { class: 'field control-field' },
          h('label', { for: 'history-control' }, 'Action'),
          controlInput,
          h('button', { type: 'button', onclick: addControl }, 'Filter')),
        controlChips.length ? h('span', { class: 'chips' }, controlChips) : null,
        anyFilter
          ? h('button', {
            type: 'button',
            class: 'link',
            onclick: () => {
              state.kinds = [];
              state.categories = [];
              state.controls = [];
              drawFilters();
              changed();
            },
          }, 'Clear filters')
          : null),
      rangeMessage);
  }

  // --- list ---
  const load = pagedLoader({
    ctx,
    state,
    queryOf,
    pageSize: PAGE_SIZE,
    busy: listBox,
    fetchPage: (cursor, signal) => {
      const filter = {};
      if (state.kinds.length) filter.kinds = state.kinds;
      if (state.categories.length) filter.categories = state.categories;
      if (state.controls.length) filter.controlIds = state.controls;
      return gql(QUERY, {
        slug,
        from: `${state.from}T00:00:00Z`,
        to: `${nextDay(state.to)}T00:00:00Z`,
        filter,
        ...cursor,
      }, { signal });
    },
    connectionOf: (data) => data.tenant.scoreEvents,
    draw: (data, connection) => {
      last = connection;
      drawList(connection);
      drawPager(connection);
      drawNewer();
    },
    fail: (err, quiet) => {
      if (!quiet) replace(listBox, errorBox(err, { title: 'The history could not be loaded' }));
    },
  });

  function drawList(connection) {
    const n = connection.totalCount;
    countLine.textContent = `${n === 1 ? '1 event' : `${n} events`} from ${fmtDate(state.from)} to ${fmtDate(state.to)}`;
    if (connection.nodes.length === 0) {
      replace(listBox, h('div', { class: 'empty card' }, h('p', {}, 'Nothing changed in this range with these filters.')));
      return;
    }
    const actionsBase = `/tenants/${enc}/actions`;
    replace(listBox, h('div', { class: 'table-wrap card flush' }, h('table', { class: 'event-table' },
      h('caption', { class: 'visually-hidden' }, 'Changes to the improvement actions, newest first'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'When'),
        h('th', { scope: 'col' }, 'Who'),
        h('th', { scope: 'col' }, 'Action'),
        h('th', { scope: 'col' }, 'What'),
        h('th', { scope: 'col', class: 'num' }, 'Points'),
        h('th', { scope: 'col', class: 'num' }, 'Change'))),
      h('tbody', {}, connection.nodes.map((e) => {
        const isNew = fresh.delete(e.id);
        const noPoints = e.pointsBefore === null && e.pointsAfter === null && !e.pointsDelta;
        const cls = [isNew ? 'fresh' : '', noPoints ? 'no-points' : ''].join(' ').trim() || null;
        return h('tr', { class: cls, dataset: { eventId: e.id, kind: e.kind, controlId: e.controlId } },
          h('td', { class: 'when', 'data-label': 'When' }, h('time', { datetime: e.occurredAt }, fmtDateTime(e.occurredAt))),
          h('td', { 'data-label': 'Who' }, e.actor),
          h('td', { 'data-label': 'Action', class: 'action-col' },
            h('a', { href: `${actionsBase}/${encodeURIComponent(e.controlId)}` }, e.controlId)),
          h('td', { 'data-label': 'What', class: 'what' },
            h('div', { class: 'what-line' }, h('span', { class: 'kind' }, EVENT_LABELS[e.kind] ?? humanize(e.kind)), statusChange(e)),
            e.comment ? h('p', { class: 'comment' }, e.comment) : null),
          h('td', { class: 'num', 'data-label': 'Points' },
            e.pointsBefore === null && e.pointsAfter === null
              ? h('span', { class: 'muted' }, '–')
              : `${fmtPoints(e.pointsBefore)} → ${fmtPoints(e.pointsAfter)}`),
          h('td', { class: 'num', 'data-label': 'Change' }, e.pointsDelta ? deltaBadge(e.pointsDelta) : h('span', { class: 'muted' }, '–')));
      })))));
  }

  function drawPager(connection) {
    const start = (state.page - 1) * PAGE_SIZE + 1;
    const end = start + connection.nodes.length - 1;
    const info = connection.nodes.length
      ? h('span', { class: 'page-info', 'data-testid': 'page-info' }, `${start}–${end} of ${connection.totalCount}`)
      : null;
    if (!connection.pageInfo.hasNextPage && !connection.pageInfo.hasPreviousPage) {
      replace(pager, info);
      return;
    }
    replace(pager,
      h('button', {
        type: 'button',
        disabled: !connection.pageInfo.hasPreviousPage,
        onclick: () => {
          state.page = Math.max(1, state.page - 1);
          if (state.page === 1) {
            state.after = null;
            state.before = null;
          } else {
            state.before = last.pageInfo.startCursor;
            state.after = null;
          }
          changed({ keepPage: true });
        },
      }, '← Newer'),
      info,
      h('button', {
        type: 'button',
        disabled: !connection.pageInfo.hasNextPage,
        onclick: () => {
          state.page += 1;
          state.after = last.pageInfo.endCursor;
          state.before = null;
          changed({ keepPage: true });
        },
      }, 'Older →'));
  }

  function drawNewer() {
    if (missed === 0 || state.page === 1) {
      replace(newer);
      return;
    }
    replace(newer, h('button', {
      type: 'button',
      class: 'link',
      onclick: () => {
        state.page = 1;
        state.after = null;
        state.before = null;
        changed({ keepPage: true });
      },
    }, `${missed} new ${missed === 1 ? 'event' : 'events'} · show the newest`));
  }

  // --- live ---
  const refetch = debounce(() => load({ quiet: true }), 300);
  ctx.onCleanup(() => refetch.cancel());
  ctx.live.onEvent((e) => {
    const at = Date.parse(e.occurredAt);
    if (at < Date.parse(`${state.from}T00:00:00Z`) || at >= Date.parse(`${nextDay(state.to)}T00:00:00Z`)) return;
    if (state.kinds.length && !state.kinds.includes(e.kind)) return;
    if (state.controls.length && !state.controls.includes(e.controlId)) return;
    if (state.page === 1) {
      fresh.add(e.id);
      refetch();
    } else {
      missed += 1;
      drawNewer();
    }
  });

  drawFilters();
  ctx.setQuery(queryOf(state));
  await load();

  return {
    update(next) {
      const wanted = readState(new URLSearchParams(next.query));
      if (JSON.stringify(queryOf(wanted)) !== JSON.stringify(queryOf(state))) {
        state = wanted;
        drawFilters();
        load();
      }
    },
  };
}
