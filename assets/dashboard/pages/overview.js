// The overview of one tenant (`/tenants/{slug}`), modelled on Microsoft Secure Score's overview:
// the score tile with the other views to include, the breakdown by category, the score's history
// with zones, goals and cohort comparisons, and the top ranked improvement actions. Live: a new
// score repaints the tile and the categories and refreshes the top actions.
//
// Two queries: one for the tile, categories, zones, goals and top actions (so the tile shows
// fast), one for the chart (its range and comparisons change on their own).

import { gql } from '../api.js';
import { dayToMs, fmtDay, lineChart } from '../chart.js';
import {
  CATEGORY_LABELS, VIEW_LABELS, errorBox, fmtDateTime, fmtDelta, fmtPercent, fmtPoints, h, isoDay,
  loading, replace, statusBadge, zoneBadge,
} from '../dom.js';
import { SECURE_SCORE } from '../fragments.js';
import { insightSections } from '../insights.js';
import { debounce } from '../widgets.js';

/** The views one can include next to the current score, in the order shown. */
const EXTRA_VIEWS = ['planned', 'currentLicense', 'achievable', 'verified'];

const VIEW_COLORS = {
  current: 'var(--chart-1)',
  planned: 'var(--chart-2)',
  currentLicense: 'var(--chart-3)',
  achievable: 'var(--chart-5)',
  verified: 'var(--text)',
};

/** One line per view (from the SecureScore field descriptions). */
const VIEW_HINTS = {
  current: 'Points achieved now.',
  planned: 'Current plus what the planned actions would add once done.',
  currentLicense: 'What your licences allow: every licensed action at its maximum.',
  achievable: 'Like current licence, except that risk-accepted actions stay as they are.',
  verified: 'Only points resting on confirmed implementation, not on third-party or alternate-mitigation claims.',
};

const RANGES = [
  { value: '30', label: '30 days', days: 30 },
  { value: '90', label: '90 days', days: 90 },
  { value: '180', label: '180 days', days: 180 },
  { value: '365', label: '1 year', days: 365 },
  { value: 'custom', label: 'Custom' },
];

const COHORTS = [
  { kind: 'ALL_TENANTS', label: 'All tenants', color: 'var(--chart-2)', dash: '7 4' },
  { kind: 'SIMILAR_SIZE', label: 'Similar size', color: 'var(--chart-3)', dash: '2 3' },
  { kind: 'SAME_INDUSTRY', label: 'Same industry', color: 'var(--chart-4)', dash: '10 3 2 3' },
];

/** The API's longest scoreHistory range. */
const MAX_RANGE_DAYS = 400;

const TOP_ACTIONS = `improvementActions(first: 10, filter: { hasPointsRemaining: true }, orderBy: { field: RANK }) {
  totalCount
  nodes { id controlId title category status pointsAchieved maxPoints scoreImpact rank }
}`;

const OVERVIEW_QUERY = `query OverviewPage($slug: String!) {
  tenant(slug: $slug) {
    id
    secureScore { ${SECURE_SCORE} }
    goals {
      zones { okayFrom goodFrom currentZone }
      goals { id targetPercentage targetDate note }
      currentGoal { id targetPercentage targetDate onTrack }
    }
    ${TOP_ACTIONS}
  }
}`;

const REFRESH_QUERY = `query OverviewRefresh($slug: String!) {
  tenant(slug: $slug) {
    id
    goals { zones { okayFrom goodFrom currentZone } currentGoal { id targetPercentage targetDate onTrack } }
    ${TOP_ACTIONS}
  }
}`;

const CHART_QUERY = `query OverviewChart($slug: String!, $from: Date!, $to: Date!, $compare: Boolean!, $cohorts: [CohortInput!]) {
  tenant(slug: $slug) {
    id
    scoreHistory(from: $from, to: $to) { day current { percentage } }
    comparisons(from: $from, to: $to, cohorts: $cohorts) @include(if: $compare) {
      day
      cohorts { kind figures { meanPercentage } suppressedReason suppressedMessage }
    }
  }
}`;

function notFound(slug) {
  const err = new Error(`There is no tenant “${slug}” that this token can read.`);
  err.code = 'NOT_FOUND';
  return err;
}

/** The zone of `percentage` (the API's rule: each zone includes its lower threshold). */
function zoneOf(percentage, zones) {
  if (!zones) return null;
  if (percentage >= zones.goodFrom) return 'GOOD';
  if (percentage >= zones.okayFrom) return 'OKAY';
  return 'BAD';
}

function daysBetween(from, to) {
  return Math.round((dayToMs(to) - dayToMs(from)) / 86_400_000) + 1;
}

export async function render(ctx) {
  const slug = ctx.params.slug;
  const tenantName = ctx.tenant?.name ?? slug;
  const base = `/tenants/${encodeURIComponent(slug)}`;

  // --- state (the URL's query keeps the choices) ------------------------------------------------
  const q = ctx.query;
  const state = {
    include: new Set(q.getAll('include').filter((v) => EXTRA_VIEWS.includes(v))),
    range: RANGES.some((r) => r.value === q.get('range')) ? q.get('range') : '90',
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    cohorts: new Set(q.getAll('compare').filter((k) => COHORTS.some((c) => c.kind === k))),
    score: null,
    goals: null,
    actions: null,
    history: null,
  };
  if (state.range === 'custom' && !(state.from && state.to)) state.range = '90';

  function saveQuery() {
    ctx.setQuery({
      include: EXTRA_VIEWS.filter((v) => state.include.has(v)),
      range: state.range === '90' ? null : state.range,
      from: state.range === 'custom' ? state.from : null,
      to: state.range === 'custom' ? state.to : null,
      compare: COHORTS.map((c) => c.kind).filter((k) => state.cohorts.has(k)),
    });
  }

  // --- layout -----------------------------------------------------------------------------------
  const tileBody = h('div', { class: 'ov-tile-body' }, loading('Loading the score'));
  const tile = h('section', { class: 'card ov-tile', 'data-testid': 'score-tile', 'aria-labelledby': 'ov-tile-title' },
    h('h2', { id: 'ov-tile-title' }, 'Secure Score'),
    tileBody);

  const categoriesBody = h('div', { class: 'ov-categories-body' }, loading('Loading the categories'));
  const categories = h('section', { class: 'card ov-categories', 'data-testid': 'categories', 'aria-labelledby': 'ov-cat-title' },
    h('h2', { id: 'ov-cat-title' }, 'Breakdown by category'),
    categoriesBody);

  const actionsBody = h('div', { class: 'ov-actions-body' }, loading('Loading the top actions'));
  const actions = h('section', { class: 'card ov-actions', 'data-testid': 'top-actions', 'aria-labelledby': 'ov-actions-title' },
    h('div', { class: 'ov-section-head' },
      h('h2', { id: 'ov-actions-title' }, 'Top improvement actions'),
      h('a', { href: `${base}/actions`, class: 'ov-more', 'data-testid': 'all-actions-link' }, 'All improvement actions')),
    actionsBody);

  const chartSection = buildChartSection();
  // Why it moved, what peers did and the best plan: one query each (insights.js).
  const insights = insightSections(ctx);
  const refreshInsights = debounce(() => insights.refresh(), 500);
  ctx.onCleanup(() => refreshInsights.cancel());

  const root = h('div', { class: 'page-overview' },
    h('header', { class: 'ov-head' },
      h('p', { class: 'ov-kicker' }, 'Overview'),
      h('h1', {}, tenantName)),
    h('div', { class: 'ov-grid' }, tile, categories, chartSection.el, actions, insights.els));
  replace(ctx.main, root);

  // --- score tile ---------------------------------------------------------------------------------

  function viewNumbers(view, { testids = false } = {}) {
    return [
      h('span', { class: 'ov-view-points' },
        h('span', { 'data-field': 'points', 'data-testid': testids ? 'score-points' : null }, fmtPoints(view.points)),
        h('span', { class: 'ov-of' }, ' / '),
        h('span', { 'data-field': 'max', 'data-testid': testids ? 'score-max' : null }, fmtPoints(view.max))),
      h('span', { class: 'ov-view-pct', 'data-field': 'percentage' }, fmtPercent(view.percentage)),
    ];
  }

  /** A track with one bar per shown view, the widest behind; zone thresholds as ticks. */
  function track(score, views, { label, zones }) {
    const bars = views
      .map((key) => ({ key, pct: Math.max(0, Math.min(100, score[key].percentage)) }))
      .sort((a, b) => (a.key === 'verified') - (b.key === 'verified') || b.pct - a.pct)
      .map(({ key, pct }) => {
        // Verified points are part of the current ones: a thinner bar over them.
        const inner = key === 'verified' ? ' ov-bar-inner' : '';
        const bar = h('span', { class: `ov-bar ov-bar-${key}${inner}`, 'data-view': key });
        bar.style.width = `${pct}%`;
        bar.style.background = VIEW_COLORS[key];
        return bar;
      });
    const ticks = zones
      ? [zones.okayFrom, zones.goodFrom].map((v) => {
        const tick = h('span', { class: 'ov-tick' });
        tick.style.left = `${v}%`;
        return tick;
      })
      : [];
    return h('div', { class: 'ov-track', role: 'img', 'aria-label': label }, bars, ticks);
  }

  function shownViews() {
    return ['current', ...EXTRA_VIEWS.filter((v) => state.include.has(v))];
  }

  // The tile: the numbers (repainted), the "Include" toggles (kept, so focus stays) and a foot.
  const tileMain = h('div', { class: 'ov-tile-main' });
  const tileFoot = h('div', { class: 'ov-tile-foot' });
  const toggles = h('fieldset', { class: 'ov-include', 'data-testid': 'include-views' },
    h('legend', {}, 'Include'),
    EXTRA_VIEWS.map((key) => {
      const inputId = `ov-include-${key}`;
      const hintId = `${inputId}-hint`;
      const swatch = h('span', { class: 'ov-swatch', 'aria-hidden': 'true' });
      swatch.style.background = VIEW_COLORS[key];
      return h('div', { class: 'ov-toggle' },
        h('input', {
          type: 'checkbox', id: inputId, name: 'include', value: key, checked: state.include.has(key),
          'aria-describedby': hintId,
          onchange: (event) => {
            if (event.target.checked) state.include.add(key);
            else state.include.delete(key);
            saveQuery();
            paintTile();
            paintCategories();
          },
        }),
        swatch,
        h('label', { for: inputId }, VIEW_LABELS[key]),
        h('span', { class: 'ov-hint', id: hintId }, VIEW_HINTS[key]));
    }));

  function paintTile() {
    const score = state.score;
    if (!score) return;
    const cur = score.current;
    const zones = state.goals?.zones ?? null;
    // The API's zone while the score is the one it was computed for; else the same rule here.
    const zone = zones
      ? (state.zonePercentage === cur.percentage ? zones.currentZone : zoneOf(cur.percentage, zones))
      : null;
    const views = shownViews();
    const trackLabel = views.map((v) => `${VIEW_LABELS[v]} ${fmtPercent(score[v].percentage)}`).join(', ');

    const extra = views.length > 1
      ? h('ul', { class: 'ov-views', 'aria-label': 'Score views' },
        views.map((key) => {
          const swatch = h('span', { class: 'ov-swatch', 'aria-hidden': 'true' });
          swatch.style.background = VIEW_COLORS[key];
          return h('li', { class: 'ov-view', 'data-testid': key === 'current' ? null : `view-${key}`, dataset: { view: key } },
            swatch,
            h('span', { class: 'ov-view-label' }, VIEW_LABELS[key]),
            viewNumbers(score[key]));
        }))
      : null;

    const goal = state.goals?.currentGoal;
    const goalLine = goal
      ? h('p', { class: 'ov-goal', 'data-testid': 'current-goal' },
        'Goal ', h('strong', {}, fmtPercent(goal.targetPercentage)), ` by ${fmtDay(goal.targetDate, true)} `,
        goal.onTrack === true ? h('span', { class: 'badge zone-good' }, 'On track')
          : goal.onTrack === false ? h('span', { class: 'badge zone-bad' }, 'Off track') : null)
      : null;

    replace(tileMain,
      h('div', { class: 'ov-headline' },
        h('span', { class: 'ov-pct', 'data-testid': 'score-percentage' }, fmtPercent(cur.percentage)),
        state.goals ? h('span', { class: 'ov-zone', 'data-testid': 'score-zone' }, zoneBadge(zone)) : null),
      h('p', { class: 'ov-points' },
        h('span', { 'data-testid': 'score-points' }, fmtPoints(cur.points)),
        h('span', { class: 'ov-of' }, ' / '),
        h('span', { 'data-testid': 'score-max' }, fmtPoints(cur.max)),
        ' points achieved'),
      track(score, views, { label: `Score: ${trackLabel}`, zones }),
      extra);
    replace(tileFoot,
      goalLine,
      h('p', { class: 'ov-updated muted' },
        'Last updated ', h('time', { datetime: score.updatedAt, 'data-testid': 'score-updated' }, fmtDateTime(score.updatedAt))));
    if (!tileBody.contains(toggles)) replace(tileBody, tileMain, toggles, tileFoot);
  }

  // --- categories ---------------------------------------------------------------------------------

  function paintCategories() {
    const score = state.score;
    if (!score) return;
    const views = shownViews();
    const rows = score.categories.map((cat) => h('tr', { 'data-testid': `category-${cat.category}`, dataset: { category: cat.category } },
      h('th', { scope: 'row' }, CATEGORY_LABELS[cat.category] ?? cat.category),
      views.map((key) => h('td', { class: 'num ov-cat-cell', dataset: { view: key } },
        h('span', { class: 'ov-cat-points' },
          h('span', { 'data-field': 'points' }, fmtPoints(cat[key].points)),
          h('span', { class: 'ov-of' }, ' / '),
          h('span', { 'data-field': 'max' }, fmtPoints(cat[key].max))),
        h('span', { class: 'ov-cat-pct', 'data-field': 'percentage' }, fmtPercent(cat[key].percentage)))),
      h('td', { class: 'ov-cat-bar' },
        track(cat, views, { label: views.map((v) => `${VIEW_LABELS[v]} ${fmtPercent(cat[v].percentage)}`).join(', ') }))));
    replace(categoriesBody,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'ov-cat-table' },
          h('caption', { class: 'visually-hidden' }, 'Points achieved of the maximum, and percentage, per category'),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Category'),
            views.map((key) => h('th', { scope: 'col', class: 'num', dataset: { view: key } }, VIEW_LABELS[key])),
            h('th', { scope: 'col', class: 'ov-cat-bar' }, h('span', { class: 'visually-hidden' }, 'Progress')))),
          h('tbody', {}, rows))));
  }

  // --- top actions --------------------------------------------------------------------------------

  function paintActions() {
    const conn = state.actions;
    if (!conn) return;
    if (!conn.nodes.length) {
      replace(actionsBody, h('p', { class: 'ov-empty' }, 'No improvement action has points left to gain.'));
      return;
    }
    const rows = conn.nodes.map((a) => h('tr', { 'data-control-id': a.controlId },
      h('td', { class: 'num ov-rank' }, a.rank ?? '–'),
      h('th', { scope: 'row', class: 'ov-action-title' },
        h('a', { href: `${base}/actions/${encodeURIComponent(a.controlId)}` }, a.title)),
      h('td', { class: 'ov-action-cat' }, CATEGORY_LABELS[a.category] ?? a.category),
      h('td', { class: 'ov-action-status' }, statusBadge(a.status)),
      h('td', { class: 'num ov-action-points', 'data-label': 'Points' }, `${fmtPoints(a.pointsAchieved)} / ${fmtPoints(a.maxPoints)}`),
      h('td', { class: 'num ov-impact', 'data-label': 'Impact' }, fmtDelta(a.scoreImpact, ' %'))));
    replace(actionsBody,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'ov-actions-table' },
          h('caption', { class: 'visually-hidden' }, 'The ten top ranked improvement actions with points left to gain'),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col', class: 'num' }, 'Rank'),
            h('th', { scope: 'col' }, 'Improvement action'),
            h('th', { scope: 'col', class: 'ov-action-cat' }, 'Category'),
            h('th', { scope: 'col' }, 'Status'),
            h('th', { scope: 'col', class: 'num' }, 'Points'),
            h('th', { scope: 'col', class: 'num' }, 'Score impact'))),
          h('tbody', {}, rows))),
      h('p', { class: 'muted ov-actions-foot' },
        `${conn.totalCount} ${conn.totalCount === 1 ? 'action has' : 'actions have'} points left to gain. `,
        'Score impact: percentage points the score gains when the action is finished.'));
  }

  // --- loading ----------------------------------------------------------------------------------

  function showOverviewError(err) {
    const retry = () => {
      replace(tileBody, loading('Loading the score'));
      replace(categoriesBody, loading('Loading the categories'));
      replace(actionsBody, loading('Loading the top actions'));
      overviewPending = true;
      overviewReady = loadOverview();
      overviewReady.then((ok) => { if (ok) drawChart(); });
    };
    const box = () => h('div', {}, errorBox(err, { title: 'The score could not be loaded' }),
      h('button', { type: 'button', class: 'ov-retry', onclick: retry }, 'Try again'));
    replace(tileBody, box());
    replace(categoriesBody, errorBox(err, { title: 'The categories could not be loaded' }));
    replace(actionsBody, errorBox(err, { title: 'The top actions could not be loaded' }));
  }

  async function loadOverview() {
    try {
      const data = await gql(OVERVIEW_QUERY, { slug }, { signal: ctx.signal });
      if (!data.tenant) throw notFound(slug);
      // A live score that came in meanwhile may be newer than this answer.
      if (!state.score || state.score.updatedAt <= data.tenant.secureScore.updatedAt) state.score = data.tenant.secureScore;
      state.goals = data.tenant.goals;
      state.actions = data.tenant.improvementActions;
      state.zonePercentage = state.score.current.percentage;
      paintTile();
      paintCategories();
      paintActions();
      return true;
    } catch (err) {
      if (err?.name === 'AbortError' || ctx.signal.aborted) return false;
      if (err?.code === 'UNAUTHENTICATED') throw err;
      showOverviewError(err);
      return false;
    } finally {
      overviewPending = false;
    }
  }
  let overviewPending = true;

  // Refreshes the top actions and the zone after a change (debounced).
  let refreshTimer = null;
  let refreshSeq = 0;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      const seq = ++refreshSeq;
      try {
        const data = await gql(REFRESH_QUERY, { slug }, { signal: ctx.signal });
        if (seq !== refreshSeq || !data.tenant) return;
        state.goals = { ...(state.goals ?? {}), ...data.tenant.goals };
        state.actions = data.tenant.improvementActions;
        state.zonePercentage = state.score?.current.percentage;
        paintTile();
        paintActions();
      } catch (err) {
        if (err?.name === 'AbortError' || ctx.signal.aborted) return;
        replace(actionsBody, errorBox(err, { title: 'The top actions could not be refreshed' }));
      }
    }, 300);
  }
  ctx.onCleanup(() => clearTimeout(refreshTimer));

  ctx.live.onScore((score) => {
    if (!score) return;
    const before = state.score;
    state.score = score;
    paintTile();
    paintCategories();
    updateTodayInChart(score);
    // The subscription sends the score as it is first: no need to refetch then.
    // While the first load runs, it brings the actions itself.
    if (overviewPending) return;
    const same = before && before.updatedAt === score.updatedAt && before.current.pointsExact === score.current.pointsExact
      && before.planned.pointsExact === score.planned.pointsExact && before.maxScore.pointsExact === score.maxScore.pointsExact;
    if (!same || !state.actions) {
      scheduleRefresh();
      refreshInsights();
    }
  });

  // --- history chart ------------------------------------------------------------------------------

  function buildChartSection() {
    const statusBox = h('div', { class: 'ov-chart-status' });
    const host = h('div', { class: 'ov-chart-host', 'data-testid': 'history-chart', 'aria-live': 'polite' }, loading('Loading the history'));

    const fromInput = h('input', {
      type: 'date', id: 'ov-from', name: 'from', value: state.from, max: isoDay(0),
      onchange: () => onCustomChange(),
    });
    const toInput = h('input', {
      type: 'date', id: 'ov-to', name: 'to', value: state.to, max: isoDay(0),
      onchange: () => onCustomChange(),
    });
    const customError = h('div', { class: 'ov-custom-error' });
    const custom = h('div', { class: 'ov-custom', hidden: state.range !== 'custom' },
      h('span', { class: 'ov-field' }, h('label', { for: 'ov-from' }, 'From'), fromInput),
      h('span', { class: 'ov-field' }, h('label', { for: 'ov-to' }, 'To'), toInput),
      customError);

    function onCustomChange() {
      const from = fromInput.value;
      const to = toInput.value;
      replace(customError);
      if (!from || !to) return;
      let problem = null;
      if (from > to) problem = 'The first day must not be after the last day.';
      else if (daysBetween(from, to) > MAX_RANGE_DAYS) problem = `Pick at most ${MAX_RANGE_DAYS} days.`;
      if (problem) {
        replace(customError, errorBox({ message: problem, code: 'BAD_USER_INPUT' }, { title: 'Check the dates' }));
        return;
      }
      state.from = from;
      state.to = to;
      saveQuery();
      drawChart();
    }

    const rangeGroup = h('fieldset', { class: 'ov-range', 'data-testid': 'chart-range' },
      h('legend', {}, 'Range'),
      h('div', { class: 'ov-segmented' },
        RANGES.map((r) => {
          const inputId = `ov-range-${r.value}`;
          return h('span', { class: 'ov-segment' },
            h('input', {
              type: 'radio', name: 'ov-range', id: inputId, value: r.value, checked: state.range === r.value,
              onchange: () => {
                state.range = r.value;
                custom.hidden = r.value !== 'custom';
                if (r.value === 'custom') {
                  if (!fromInput.value || !toInput.value) {
                    const { from, to } = currentRange('90');
                    fromInput.value = from;
                    toInput.value = to;
                  }
                  onCustomChange();
                  return;
                }
                saveQuery();
                drawChart();
              },
            }),
            h('label', { for: inputId }, r.label));
        })));

    const compareGroup = h('fieldset', { class: 'ov-compare', 'data-testid': 'chart-compare' },
      h('legend', {}, 'Compare with'),
      COHORTS.map((c) => {
        const inputId = `ov-compare-${c.kind}`;
        const swatch = h('span', { class: 'ov-swatch ov-swatch-line', 'aria-hidden': 'true' });
        swatch.style.borderTop = `2px ${Number(c.dash.split(' ')[0]) > 3 ? 'dashed' : 'dotted'} ${c.color}`;
        return h('span', { class: 'ov-check' },
          h('input', {
            type: 'checkbox', id: inputId, name: 'compare', value: c.kind, checked: state.cohorts.has(c.kind),
            onchange: (event) => {
              if (event.target.checked) state.cohorts.add(c.kind);
              else state.cohorts.delete(c.kind);
              saveQuery();
              drawChart();
            },
          }),
          swatch,
          h('label', { for: inputId }, c.label));
      }));

    const el = h('section', { class: 'card ov-history', 'aria-labelledby': 'ov-history-title' },
      h('div', { class: 'ov-section-head' },
        h('h2', { id: 'ov-history-title' }, 'Score history'),
        h('a', { href: `${base}/history`, class: 'ov-more' }, 'History and trends')),
      h('div', { class: 'ov-chart-controls' }, rangeGroup, compareGroup),
      custom,
      statusBox,
      host);
    return { el, host, statusBox };
  }

  function currentRange(range = state.range) {
    if (range === 'custom') return { from: state.from, to: state.to };
    const days = RANGES.find((r) => r.value === range)?.days ?? 90;
    return { from: isoDay(days - 1), to: isoDay(0) };
  }

  let chart = null;
  let chartSeq = 0;
  let chartController = null;
  ctx.onCleanup(() => {
    chart?.destroy();
    chartController?.abort();
  });

  async function drawChart() {
    const seq = ++chartSeq;
    chartController?.abort();
    const controller = new AbortController();
    chartController = controller;
    const abortWithPage = () => controller.abort();
    ctx.signal.addEventListener('abort', abortWithPage, { once: true });
    const { from, to } = currentRange();
    const kinds = COHORTS.map((c) => c.kind).filter((k) => state.cohorts.has(k));
    const { host, statusBox } = chartSection;
    host.setAttribute('aria-busy', 'true');
    host.classList.add('ov-busy');
    replace(statusBox);
    try {
      const [data] = await Promise.all([
        gql(CHART_QUERY, {
          slug, from, to, compare: kinds.length > 0, cohorts: kinds.map((kind) => ({ kind })),
        }, { signal: controller.signal }),
        overviewReady,
      ]);
      if (seq !== chartSeq) return;
      if (!data.tenant) throw notFound(slug);
      state.history = { from, to, kinds, snapshots: data.tenant.scoreHistory, comparisons: data.tenant.comparisons ?? [] };
      paintChart();
    } catch (err) {
      if (err?.name === 'AbortError' || controller.signal.aborted) return;
      if (seq !== chartSeq) return;
      replace(statusBox, errorBox(err, { title: 'The history could not be loaded' }),
        h('button', { type: 'button', class: 'ov-retry', onclick: () => drawChart() }, 'Try again'));
      if (!chart) replace(host);
    } finally {
      ctx.signal.removeEventListener('abort', abortWithPage);
      if (seq === chartSeq) {
        host.removeAttribute('aria-busy');
        host.classList.remove('ov-busy');
      }
    }
  }

  function chartOptions() {
    const { from, to, kinds, snapshots, comparisons } = state.history;
    const zones = state.goals?.zones ?? null;
    const goals = state.goals?.goals ?? [];
    const scoreSeries = {
      id: 'current',
      label: 'Secure Score',
      color: VIEW_COLORS.current,
      emphasis: true,
      points: snapshots.map((s) => ({ day: s.day, value: s.current.percentage })),
    };
    const notes = [];
    // Why figures are missing, with the cohorts they concern: one note per distinct story.
    const withheldNotes = new Map();
    const cohortSeries = kinds.map((kind, index) => {
      const meta = COHORTS.find((c) => c.kind === kind);
      const points = comparisons.map((c) => {
        const entry = c.cohorts.find((x) => x.kind === kind) ?? c.cohorts[index];
        return { day: c.day, value: entry?.figures ? entry.figures.meanPercentage : null, entry };
      });
      const withheld = points.filter((p) => p.value === null);
      if (withheld.length) {
        const messages = [...new Set(withheld.map((p) => p.entry?.suppressedMessage).filter(Boolean))];
        const reason = messages.join('; ') || 'no figures for this cohort';
        const what = withheld.length === points.length
          ? `no comparison line: ${reason}.`
          : `no figures on ${withheld.length} of ${points.length} ${points.length === 1 ? 'day' : 'days'} (${reason}).`;
        withheldNotes.set(what, [...(withheldNotes.get(what) ?? []), meta.label]);
      }
      return {
        id: kind,
        label: `${meta.label} (mean)`,
        color: meta.color,
        dashed: meta.dash,
        points: points.map(({ day, value }) => ({ day, value })),
      };
    });
    for (const [what, labels] of withheldNotes) notes.push(`${labels.join(', ')}: ${what}`);
    if (kinds.length) {
      notes.push('Cohort means carry random noise that protects the other tenants, so they vary from day to day; '
        + 'tenants you can read are never counted.');
    }
    const bands = zones ? [
      { from: 0, to: zones.okayFrom, tone: 'bad', label: 'Needs attention' },
      { from: zones.okayFrom, to: zones.goodFrom, tone: 'okay', label: 'Okay' },
      { from: zones.goodFrom, to: 100, tone: 'good', label: 'Good' },
    ] : [];
    const goalMarks = goals.map((g) => ({
      day: g.targetDate,
      value: g.targetPercentage,
      label: `Goal ${fmtPercent(g.targetPercentage)} by ${fmtDay(g.targetDate, true)}`,
    }));
    if (!snapshots.length) notes.unshift('No score snapshots in this range.');

    // A sentence for screen readers.
    const parts = [`Secure Score percentage per day from ${fmtDay(from, true)} to ${fmtDay(to, true)}.`];
    if (snapshots.length) {
      const values = snapshots.map((s) => s.current.percentage);
      const first = snapshots[0];
      const last = snapshots[snapshots.length - 1];
      parts.push(`From ${fmtPercent(first.current.percentage)} on ${fmtDay(first.day)} to ${fmtPercent(last.current.percentage)} on ${fmtDay(last.day)}`
        + `; lowest ${fmtPercent(Math.min(...values))}, highest ${fmtPercent(Math.max(...values))}.`);
    } else {
      parts.push('No snapshots in this range.');
    }
    if (zones) parts.push(`Zones: needs attention below ${fmtPercent(zones.okayFrom)}, okay from ${fmtPercent(zones.okayFrom)}, good from ${fmtPercent(zones.goodFrom)}.`);
    for (const g of goalMarks) if (dayToMs(g.day) >= dayToMs(from)) parts.push(`${g.label}.`);
    for (const series of cohortSeries) {
      const last = [...series.points].reverse().find((p) => p.value !== null);
      if (last) parts.push(`${series.label}: ${fmtPercent(last.value)} on ${fmtDay(last.day)}.`);
    }
    return {
      label: `Secure Score history, ${fmtDay(from, true)} to ${fmtDay(to, true)}`,
      summary: parts.join(' '),
      tableCaption: 'Secure Score percentage per day',
      from,
      to,
      yMin: 0,
      yMax: 100,
      format: fmtPercent,
      bands,
      goals: goalMarks,
      series: [scoreSeries, ...cohortSeries],
      notes,
    };
  }

  function paintChart() {
    if (!state.history) return;
    const options = chartOptions();
    if (chart) {
      chart.update(options);
    } else {
      chart = lineChart(options);
      replace(chartSection.host, chart.el);
      // Drawn again once it has its real width.
      requestAnimationFrame(() => chart?.update({}));
    }
  }

  /** Puts a live score into today's point of the chart, when the chart shows today. */
  function updateTodayInChart(score) {
    const history = state.history;
    const today = isoDay(0);
    if (!history || history.to < today || history.from > today) return;
    const snapshots = history.snapshots.filter((s) => s.day !== today);
    snapshots.push({ day: today, current: { percentage: score.current.percentage } });
    history.snapshots = snapshots;
    paintChart();
  }

  // --- go ---------------------------------------------------------------------------------------
  let overviewReady = loadOverview();
  drawChart();
  await overviewReady;
}
