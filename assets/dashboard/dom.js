// Small DOM and formatting helpers shared by the pages. No framework: pages build elements with
// `h` and replace what changed.

import { describeError } from './api.js';

/**
 * Creates an element. `attrs`: `class`, `text`, `on<event>` handlers (e.g. `onclick`), `dataset`
 * (an object), properties such as `value`, `checked`, `disabled`, `hidden`, and any other
 * attribute (`aria-*`, `role`, `href`, …; `null`/`false` leave it out). Children: nodes,
 * strings, numbers, arrays of them, `null`/`false` (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag === 'svg' || SVG_TAGS.has(tag)
    ? document.createElementNS('http://www.w3.org/2000/svg', tag)
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'open', 'indeterminate']);
const SVG_TAGS = new Set(['g', 'path', 'line', 'rect', 'circle', 'text', 'polyline', 'polygon', 'title', 'desc', 'tspan', 'defs', 'clipPath']);

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// --- numbers, as the API presents them ---------------------------------------------------------

/** Points as the API presents them (already rounded to 2 decimals): `312.5`, `0`, `-4.25`. */
export function fmtPoints(value) {
  if (value === null || value === undefined) return '–';
  return String(value);
}

/** A percentage as the API presents it: `45.67 %`. */
export function fmtPercent(value) {
  if (value === null || value === undefined) return '–';
  return `${value} %`;
}

/** A signed change: `+12.5`, `-3`, `0`. */
export function fmtDelta(value, unit = '') {
  if (value === null || value === undefined) return '–';
  const sign = value > 0 ? '+' : '';
  return `${sign}${value}${unit}`;
}

/** A day (`2026-12-06`) or a timestamp as a local date. */
export function fmtDate(value) {
  if (!value) return '–';
  const date = value.length === 10 ? new Date(`${value}T00:00:00`) : new Date(value);
  return date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

/** A timestamp as local date and time. */
export function fmtDateTime(value) {
  if (!value) return '–';
  return new Date(value).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

/** Today minus `days`, as `YYYY-MM-DD` (UTC, as the API's days are). */
export function isoDay(daysAgo = 0) {
  const d = new Date(Date.now() - daysAgo * 86_400_000);
  return d.toISOString().slice(0, 10);
}

// --- names of the API's enum values -------------------------------------------------------------

export const STATUS_LABELS = {
  TO_ADDRESS: 'To address',
  PLANNED: 'Planned',
  RISK_ACCEPTED: 'Risk accepted',
  RESOLVED_THIRD_PARTY: 'Resolved through third party',
  RESOLVED_ALTERNATE_MITIGATION: 'Resolved through alternate mitigation',
  COMPLETED: 'Completed',
};

export const CATEGORY_LABELS = {
  IDENTITY: 'Identity',
  DEVICE: 'Device',
  APPS: 'Apps',
  DATA: 'Data',
  INFRASTRUCTURE: 'Infrastructure',
};

export const TIER_LABELS = { CORE: 'Core', DEFENSE_IN_DEPTH: 'Defense in depth', ADVANCED: 'Advanced' };
export const LEVEL_LABELS = { LOW: 'Low', MODERATE: 'Moderate', HIGH: 'High', UNKNOWN: 'Unknown' };
export const ZONE_LABELS = { BAD: 'Needs attention', OKAY: 'Okay', GOOD: 'Good' };
export const VIEW_LABELS = {
  current: 'Current',
  planned: 'Planned',
  currentLicense: 'Current licence',
  achievable: 'Achievable',
  verified: 'Verified',
};

/** A readable label for an enum value we have no entry for: `SCORE_IMPACT` → `Score impact`. */
export function humanize(value) {
  if (!value) return '';
  const s = String(value).toLowerCase().replaceAll('_', ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A status badge. */
export function statusBadge(status) {
  return h('span', { class: `badge status-${status.toLowerCase().replaceAll('_', '-')}`, dataset: { status } },
    STATUS_LABELS[status] ?? humanize(status));
}

/** A zone badge. */
export function zoneBadge(zone) {
  if (!zone) return h('span', { class: 'badge zone-none' }, 'No zones set');
  return h('span', { class: `badge zone-${zone.toLowerCase()}`, dataset: { zone } }, ZONE_LABELS[zone] ?? humanize(zone));
}

// --- messages ---------------------------------------------------------------------------------

/** Says `message` to screen readers (the page's polite live region). */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A new text node after a tick, so the same message twice is still read.
  setTimeout(() => { region.textContent = message; }, 50);
}

/** An error box for `err` (an ApiError, UserErrors or anything thrown), for people. */
export function errorBox(err, { title = 'That did not work' } = {}) {
  const items = err?.userErrors?.length > 1 ? err.userErrors.map((e) => h('li', {}, e.message)) : null;
  return h('div', { class: 'error-box', role: 'alert', dataset: { code: err?.code ?? 'INTERNAL' } },
    h('strong', {}, title),
    items ? h('ul', {}, items) : h('p', {}, describeError(err)));
}

/** A short-lived notice in the corner (`kind`: `info` or `error`). */
export function toast(message, kind = 'info') {
  const host = document.getElementById('toasts');
  if (!host) return;
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  host.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

/** A loading placeholder. */
export function loading(what = 'Loading') {
  return h('p', { class: 'loading', role: 'status' }, `${what}…`);
}
