// The overview's three answers beyond the score, each from one query of the public API:
//   - "Why it moved": `Tenant.scoreChange` splits a view's change over a range into causes that
//     add up exactly, with the actions behind each;
//   - "What peers did": `Tenant.peerGaps`, the open actions most organisations like this one have
//     done (privacy-protected cohort figures);
//   - "Best plan": `Tenant.plan`, the actions that gain the most points within an effort budget,
//     and `applyPlan` to mark them PLANNED (OPERATOR and ADMIN).

import { gql, mutate } from './api.js';
import {
  CATEGORY_LABELS, VIEW_LABELS, announce, errorBox, fmtDate, fmtDelta, fmtPercent, fmtPoints, h, humanize, loading,
  replace, statusBadge,
} from './dom.js';
import { SECURE_SCORE, USER_ERRORS } from './fragments.js';

const CAUSE_LABELS = {
  REMEDIATION: 'Remediation',
  REGRESSION: 'Regressions',
  STATUS_CLAIM: 'Third-party and alternate-mitigation claims',
  RISK_ACCEPTANCE: 'Risk acceptances',
  EXPIRY: 'Expiries',
  APPLICABILITY: 'Services and controls that started or stopped counting',
  CATALOG: 'Catalog changes',
  LICENCE: 'Licence changes',
  PLANNING: 'Planning',
  UNATTRIBUTED: 'Not explained by the event log',
};

const VIEW_KINDS = {
  CURRENT: 'current',
  PLANNED: 'planned',
  CURRENT_LICENSE: 'currentLicense',
  ACHIEVABLE: 'achievable',
  VERIFIED: 'verified',
};

const RANGES = [7, 30, 90];

const SCORE_CHANGE = `query WhyItMoved($slug: String!, $from: Date, $view: ScoreViewKind) {
  tenant(slug: $slug) {
    id
    scoreChange(from: $from, view: $view) {
      from { day points max percentage }
      to { day points max percentage }
      pointsDelta maxDelta percentageDelta percentageFromPoints percentageFromMax
      causes {
        cause pointsDelta maxDelta percentageDelta unlistedPointsDelta
        actions { controlId title category pointsDelta maxDelta }
      }
    }
  }
}`;

const PLAN = `query BestPlan($slug: String!, $input: PlanInput!) {
  tenant(slug: $slug) {
    id
    plan(input: $input) {
      effortBudget totalEffort pointsGained percentageGained candidates
      actions { effort pointsGained action { id controlId title category status version } }
      score { current { points max percentage } }
      standing { day percentage percentileEstimate suppressedReason }
    }
  }
}`;

const PEER_GAPS = `query WhatPeersDid($slug: String!, $cohort: CohortInput) {
  tenant(slug: $slug) {
    id
    peerGaps(cohort: $cohort, first: 8) {
      day kind suppressedReason suppressedMessage
      actions {
        action { id controlId title category status }
        adoption { size donePercent completedPercent resolvedPercent plannedPercent riskAcceptedPercent }
      }
    }
  }
}`;

const COHORTS = { ALL_TENANTS: 'All organisations', SIMILAR_SIZE: 'Similar size', SAME_INDUSTRY: 'Same industry' };

const APPLY_PLAN = `mutation ApplyPlan($input: ApplyPlanInput!) {
  applyPlan(input: $input) {
    changed
    changedActions { controlId }
    score { ${SECURE_SCORE} }
    ${USER_ERRORS}
  }
}`;

/** A signed number of points with its class for colour (`gain`, `loss` or none). */
function delta(value, unit = '') {
  const cls = value > 0 ? 'gain' : value < 0 ? 'loss' : 'flat';
  return h('span', { class: `in-delta ${cls}` }, fmtDelta(value, unit));
}

function actionLink(base, controlId, title) {
  return h('a', { href: `${base}/actions/${encodeURIComponent(controlId)}` }, title || controlId);
}

/**
 * The three sections for the overview of `ctx.params.slug`. Returns `{ els, refresh }`: the
 * sections to place, and what to call when the tenant changed (debounced by the caller).
 */
export function insightSections(ctx) {
  const slug = ctx.params.slug;
  const base = `/tenants/${encodeURIComponent(slug)}`;
  const why = whySection(ctx, slug, base);
  const peers = peersSection(ctx, slug, base);
  const plan = planSection(ctx, slug, base);
  return {
    els: [why.el, peers.el, plan.el],
    refresh: () => {
      why.load({ quiet: true });
      peers.load({ quiet: true });
      plan.load({ quiet: true });
    },
  };
}

// --- why it moved ---------------------------------------------------------------------------------

function whySection(ctx, slug, base) {
  const state = { days: 30, view: 'CURRENT' };
  const body = h('div', { class: 'in-body' }, loading('Explaining the change'));
  const rangeSelect = h('select', { id: 'in-why-range', onchange: () => { state.days = Number(rangeSelect.value); load(); } },
    RANGES.map((d) => h('option', { value: d, selected: d === state.days }, `Last ${d} days`)));
  const viewSelect = h('select', { id: 'in-why-view', onchange: () => { state.view = viewSelect.value; load(); } },
    Object.entries(VIEW_KINDS).map(([kind, key]) => h('option', { value: kind, selected: kind === state.view }, VIEW_LABELS[key])));
  const el = h('section', { class: 'card in-why', 'data-testid': 'why-it-moved', 'aria-labelledby': 'in-why-title' },
    h('div', { class: 'ov-section-head' },
      h('h2', { id: 'in-why-title' }, 'Why it moved'),
      h('span', { class: 'in-controls' },
        h('label', { for: 'in-why-view', class: 'visually-hidden' }, 'Score view'), viewSelect,
        h('label', { for: 'in-why-range', class: 'visually-hidden' }, 'Range'), rangeSelect)),
    body);
  let seq = 0;

  async function load({ quiet = false } = {}) {
    const mine = ++seq;
    if (!quiet) replace(body, loading('Explaining the change'));
    try {
      const from = new Date(Date.now() - (state.days - 1) * 86_400_000).toISOString().slice(0, 10);
      const data = await gql(SCORE_CHANGE, { slug, from, view: state.view }, { signal: ctx.signal });
      if (mine === seq) draw(data.tenant.scoreChange);
    } catch (err) {
      if (err?.name === 'AbortError' || mine !== seq) return;
      replace(body, errorBox(err, { title: 'The change could not be explained' }));
    }
  }

  function draw(change) {
    const causes = change.causes.filter((c) => c.pointsDelta !== 0 || c.maxDelta !== 0 || c.actions.length);
    const biggest = Math.max(0.01, ...causes.map((c) => Math.abs(c.pointsDelta)));
    const summary = h('p', { class: 'in-summary', 'data-testid': 'why-summary' },
      `${fmtDate(change.from.day)}: ${fmtPoints(change.from.points)} / ${fmtPoints(change.from.max)} (${fmtPercent(change.from.percentage)}) → `,
      `${fmtDate(change.to.day)}: ${fmtPoints(change.to.points)} / ${fmtPoints(change.to.max)} (${fmtPercent(change.to.percentage)}). `,
      'Change ', delta(change.pointsDelta), ' points, ', delta(change.percentageDelta, ' %'),
      change.maxDelta !== 0
        ? h('span', {}, ` (${fmtDelta(change.percentageFromPoints, ' %')} from points, ${fmtDelta(change.percentageFromMax, ' %')} from a ${change.maxDelta > 0 ? 'bigger' : 'smaller'} maximum)`)
        : null);
    if (causes.length === 0) {
      replace(body, summary, h('p', { class: 'muted' }, 'Nothing moved this view in that range.'));
      return;
    }
    const list = h('ul', { class: 'in-causes' }, causes.map((c) => {
      const bar = h('span', { class: `in-bar ${c.pointsDelta >= 0 ? 'gain' : 'loss'}`, 'aria-hidden': 'true' });
      bar.style.width = `${(Math.abs(c.pointsDelta) / biggest) * 100}%`;
      const actions = c.actions.slice(0, 8).map((a) => h('li', {},
        actionLink(base, a.controlId, a.title), ' ', delta(a.pointsDelta),
        a.maxDelta !== 0 ? h('span', { class: 'muted' }, ` (maximum ${fmtDelta(a.maxDelta)})`) : null));
      const more = c.actions.length > 8 ? h('li', { class: 'muted' }, `and ${c.actions.length - 8} more`) : null;
      const unlisted = c.unlistedPointsDelta !== 0
        ? h('li', { class: 'muted' }, `Not tied to one action: ${fmtDelta(c.unlistedPointsDelta)}`)
        : null;
      return h('li', { class: 'in-cause', dataset: { cause: c.cause } },
        h('details', {},
          h('summary', {},
            h('span', { class: 'in-cause-name' }, CAUSE_LABELS[c.cause] ?? humanize(c.cause)),
            h('span', { class: 'in-bar-track' }, bar),
            h('span', { class: 'in-cause-delta' }, delta(c.pointsDelta), ' ', h('span', { class: 'muted' }, `(${fmtDelta(c.percentageDelta, ' %')})`))),
          h('ul', { class: 'in-actions' }, actions, more, unlisted)));
    }));
    replace(body, summary, list,
      h('p', { class: 'hint' }, 'The causes add up exactly to the change; open one for its actions.'));
  }

  load();
  return { el, load };
}

// --- what peers did -------------------------------------------------------------------------------

function peersSection(ctx, slug, base) {
  const state = { kind: 'ALL_TENANTS' };
  const body = h('div', { class: 'in-body' }, loading('Asking what peers did'));
  const cohortSelect = h('select', { id: 'in-peers-cohort', onchange: () => { state.kind = cohortSelect.value; load(); } },
    Object.entries(COHORTS).map(([kind, label]) => h('option', { value: kind, selected: kind === state.kind }, label)));
  const el = h('section', { class: 'card in-peers', 'data-testid': 'what-peers-did', 'aria-labelledby': 'in-peers-title' },
    h('div', { class: 'ov-section-head' },
      h('h2', { id: 'in-peers-title' }, 'What peers did that you have not'),
      h('span', { class: 'in-controls' },
        h('label', { for: 'in-peers-cohort', class: 'visually-hidden' }, 'Compare with'), cohortSelect)),
    body);
  let seq = 0;

  async function load({ quiet = false } = {}) {
    const mine = ++seq;
    if (!quiet) replace(body, loading('Asking what peers did'));
    try {
      const data = await gql(PEER_GAPS, { slug, cohort: { kind: state.kind } }, { signal: ctx.signal });
      if (mine === seq) draw(data.tenant.peerGaps);
    } catch (err) {
      if (err?.name === 'AbortError' || mine !== seq) return;
      replace(body, errorBox(err, { title: 'Peer figures could not be loaded' }));
    }
  }

  function draw(gaps) {
    if (gaps.suppressedReason) {
      replace(body, h('p', { class: 'muted', dataset: { reason: gaps.suppressedReason } },
        gaps.suppressedMessage ?? `No figures: ${humanize(gaps.suppressedReason)}.`));
      return;
    }
    if (gaps.actions.length === 0) {
      replace(body, h('p', { class: 'muted' }, 'Nothing open that your peers have done.'));
      return;
    }
    const rows = gaps.actions.map(({ action, adoption }) => {
      const bar = h('span', { class: 'in-bar gain', 'aria-hidden': 'true' });
      bar.style.width = `${Math.max(0, Math.min(100, adoption.donePercent))}%`;
      return h('tr', { dataset: { controlId: action.controlId } },
        h('td', {}, actionLink(base, action.controlId, action.title)),
        h('td', {}, statusBadge(action.status)),
        h('td', { class: 'num' }, h('span', { class: 'in-bar-track in-inline' }, bar), ' ', fmtPercent(adoption.donePercent)),
        h('td', { class: 'num' }, fmtPercent(adoption.plannedPercent)),
        h('td', { class: 'num' }, fmtPercent(adoption.riskAcceptedPercent)));
    });
    const size = gaps.actions[0].adoption.size;
    replace(body,
      h('p', { class: 'in-summary' },
        'Your open actions, by the share of the cohort ',
        `(${COHORTS[gaps.kind] ?? humanize(gaps.kind)}: about ${size} organisations`,
        gaps.day ? `, ${fmtDate(gaps.day)}` : '', ') that completed or resolved them.'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'in-peers-table' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Improvement action'),
          h('th', { scope: 'col' }, 'Your status'),
          h('th', { scope: 'col', class: 'num' }, 'Peers done'),
          h('th', { scope: 'col', class: 'num' }, 'Planned'),
          h('th', { scope: 'col', class: 'num' }, 'Risk accepted'))),
        h('tbody', {}, rows))),
      h('p', { class: 'hint' },
        'Only organisations you cannot see count, groups of fewer than k are left out, and every figure carries fixed privacy noise.'));
  }

  load();
  return { el, load };
}

// --- best plan --------------------------------------------------------------------------------------

function planSection(ctx, slug, base) {
  // `notice`: what the last "Mark … Planned" did, kept across the quiet reloads that follow it
  // (its own, and the ones live updates start), until the user asks for another plan.
  const state = { budget: 20, maxActions: '', onlyLicensed: true, plan: null, notice: null };
  const body = h('div', { class: 'in-body' }, loading('Planning'));
  const budget = h('input', { id: 'in-plan-budget', type: 'number', min: '0', max: '1000', step: '1', value: String(state.budget) });
  const maxActions = h('input', { id: 'in-plan-max', type: 'number', min: '1', max: '100', step: '1', placeholder: 'any' });
  const licensed = h('input', { id: 'in-plan-licensed', type: 'checkbox', checked: state.onlyLicensed });
  const form = h('form', {
    class: 'in-plan-form',
    onsubmit: (event) => {
      event.preventDefault();
      state.budget = Math.max(0, Number.parseInt(budget.value || '0', 10));
      state.maxActions = maxActions.value;
      state.onlyLicensed = licensed.checked;
      load();
    },
  },
  h('span', { class: 'field' }, h('label', { for: 'in-plan-budget' }, 'Effort budget'), budget),
  h('span', { class: 'field' }, h('label', { for: 'in-plan-max' }, 'At most'), maxActions),
  h('label', { class: 'check' }, licensed, ' Licensed only'),
  h('button', { type: 'submit' }, 'Plan'));
  const el = h('section', { class: 'card in-plan', 'data-testid': 'best-plan', 'aria-labelledby': 'in-plan-title' },
    h('div', { class: 'ov-section-head' }, h('h2', { id: 'in-plan-title' }, 'Best plan for your effort')),
    h('p', { class: 'hint' },
      'Effort units are the ranking weights: implementation cost + user impact + tier (3 to 9 per action). ',
      'The plan is the set of actions with the most points within the budget, found exactly.'),
    form, body);
  let seq = 0;

  function input() {
    const value = { effortBudget: state.budget, onlyLicensed: state.onlyLicensed };
    const max = Number.parseInt(state.maxActions, 10);
    if (Number.isFinite(max) && max > 0) value.maxActions = max;
    return value;
  }

  async function load({ quiet = false } = {}) {
    const mine = ++seq;
    if (!quiet) {
      state.notice = null;
      replace(body, loading('Planning'));
    }
    try {
      const data = await gql(PLAN, { slug, input: input() }, { signal: ctx.signal });
      if (mine !== seq) return;
      state.plan = data.tenant.plan;
      draw(state.plan);
    } catch (err) {
      if (err?.name === 'AbortError' || mine !== seq) return;
      replace(body, errorBox(err, { title: 'No plan could be made' }));
    }
  }

  function draw(plan) {
    if (plan.actions.length === 0) {
      replace(body, h('p', { class: 'muted' },
        plan.candidates === 0 ? 'No open action qualifies.' : 'No action fits this budget: raise it.'));
      return;
    }
    const standing = plan.standing;
    const percentile = standing?.percentileEstimate ?? null;
    const facts = h('p', { class: 'in-summary', 'data-testid': 'plan-summary' },
      `${plan.actions.length} action${plan.actions.length === 1 ? '' : 's'} for ${plan.totalEffort} of ${plan.effortBudget} effort units: `,
      delta(plan.pointsGained), ' points, ', delta(plan.percentageGained, ' %'),
      ` → ${fmtPoints(plan.score.current.points)} / ${fmtPoints(plan.score.current.max)} (${fmtPercent(plan.score.current.percentage)})`,
      percentile !== null
        ? `, about the ${Math.round(percentile)}th percentile of all organisations`
        : standing?.suppressedReason ? ` (no cohort standing: ${humanize(standing.suppressedReason)})` : '');
    const table = h('div', { class: 'table-wrap' }, h('table', { class: 'in-plan-table' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Improvement action'),
        h('th', { scope: 'col' }, 'Category'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col', class: 'num' }, 'Effort'),
        h('th', { scope: 'col', class: 'num' }, 'Points'))),
      h('tbody', {}, plan.actions.map((p) => h('tr', { dataset: { controlId: p.action?.controlId ?? '' } },
        h('td', {}, p.action ? actionLink(base, p.action.controlId, p.action.title) : '–'),
        h('td', {}, p.action ? CATEGORY_LABELS[p.action.category] ?? p.action.category : '–'),
        h('td', {}, p.action ? statusBadge(p.action.status) : '–'),
        h('td', { class: 'num' }, String(p.effort)),
        h('td', { class: 'num' }, delta(p.pointsGained)))))));
    const message = h('div', { class: 'in-message' },
      state.notice ? h('p', { class: 'calm', role: 'status' }, state.notice) : null);
    const open = plan.actions.filter((p) => p.action && p.action.status !== 'PLANNED');
    const apply = ctx.canWrite && open.length > 0
      ? h('button', {
        type: 'button',
        class: 'primary',
        'data-write': true,
        onclick: async () => {
          apply.disabled = true;
          replace(message);
          try {
            const payload = await mutate(APPLY_PLAN, {
              input: {
                tenantSlug: slug,
                actions: plan.actions.filter((p) => p.action).map((p) => ({
                  controlId: p.action.controlId,
                  expectedVersion: p.action.version,
                })),
                comment: `Planned from the dashboard's best plan (${plan.totalEffort} effort units).`,
              },
            }, 'applyPlan');
            const n = payload.changedActions.length;
            const text = n === 0 ? 'Nothing changed: every action was already planned.' : `${n} action${n === 1 ? '' : 's'} marked Planned.`;
            announce(text);
            state.notice = text;
            replace(message, h('p', { class: 'calm', role: 'status' }, text));
            load({ quiet: true });
          } catch (err) {
            replace(message, errorBox(err, { title: 'The plan was not applied' }));
            apply.disabled = false;
          }
        },
      }, `Mark ${open.length === 1 ? 'it' : `these ${open.length}`} Planned`)
      : null;
    replace(body, facts, table, h('div', { class: 'in-plan-apply' }, apply, message));
  }

  load();
  return { el, load: (options) => load(options) };
}
