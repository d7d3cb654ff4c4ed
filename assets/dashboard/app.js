// The dashboard's entry point: sign-in, the page shell (header, navigation, sign-out), the router
// for `/`, `/tenants/{slug}`, `/tenants/{slug}/actions[/{controlId}]` and
// `/tenants/{slug}/history`, and the live subscriptions of the tenant on screen.
//
// A page is a module exporting `render(ctx)`; it draws into `ctx.main` and may return
// `{ update(ctx) }` to take a change of its own route (e.g. opening the action flyout) without
// being drawn again. `ctx`:
//   main, params { slug, controlId }, query (URLSearchParams), viewer, tenant { slug, name, role },
//   canWrite (OPERATOR or ADMIN), isAdmin, signal (aborted when the page goes),
//   navigate(path, { replace }), setQuery(object) (updates the URL's query without drawing again),
//   onCleanup(fn), live.onScore(fn(secureScore)), live.onEvent(fn(actionEvent)).

import { ApiError, clearToken, getToken, gql, liveState, onLiveState, setToken, subscribe } from './api.js';
import { announce, errorBox, h, loading, replace } from './dom.js';
import { EVENT, SECURE_SCORE } from './fragments.js';
import * as tenantsPage from './pages/tenants.js';
import * as overviewPage from './pages/overview.js';
import * as actionsPage from './pages/actions.js';
import * as historyPage from './pages/history.js';

const ROUTES = [
  { key: 'tenants', pattern: /^\/(?:tenants\/?)?$/, page: tenantsPage, title: () => 'Tenants' },
  { key: 'overview', pattern: /^\/tenants\/([^/]+)\/?$/, page: overviewPage, title: (t) => `${t} · Overview` },
  {
    key: 'actions',
    pattern: /^\/tenants\/([^/]+)\/actions(?:\/([^/]+))?\/?$/,
    page: actionsPage,
    title: (t) => `${t} · Improvement actions`,
  },
  { key: 'history', pattern: /^\/tenants\/([^/]+)\/history\/?$/, page: historyPage, title: (t) => `${t} · History` },
];

const VIEWER_QUERY = `query DashboardViewer {
  viewer { id name tenants { role tenant { id slug name } } }
}`;

const root = document.getElementById('app');
let viewer = null;
let current = null; // { route, slug, cleanups, controller, handle }
let live = null; // { slug, stop, scoreHandlers, eventHandlers }

// --- sign-in ------------------------------------------------------------------------------------

function showSignIn(message) {
  teardownPage();
  stopLive();
  viewer = null;
  document.title = 'Sign in · securescore';
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    placeholder: 'ssk_…',
    'aria-describedby': 'token-help',
  });
  const status = h('div', { id: 'signin-status' }, message ? errorBox({ message, code: 'UNAUTHENTICATED' }, { title: 'Signed out' }) : null);
  const form = h('form', {
    class: 'signin card',
    'aria-labelledby': 'signin-title',
    onsubmit: async (event) => {
      event.preventDefault();
      const value = input.value.trim().replace(/^Bearer\s+/i, '');
      if (!value) return;
      setToken(value);
      replace(status, loading('Checking the token'));
      try {
        await start();
      } catch (err) {
        clearToken();
        replace(status, errorBox(err, { title: 'Could not sign in' }));
        input.focus();
      }
    },
  },
  h('h1', { id: 'signin-title' }, 'securescore'),
  h('p', {}, 'Your organisation\'s Microsoft Secure Score: what it is, why, and what to do next.'),
  h('label', { for: 'token' }, 'API token'),
  input,
  h('p', { id: 'token-help', class: 'hint' },
    'Paste a token (it starts with ssk_). It is kept in this browser tab only and forgotten when you sign out or close the tab. ',
    'A demo server prints its tokens at start-up.'),
  h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  status);
  replace(root, h('main', { id: 'main', class: 'signin-page' }, form));
  input.focus();
}

// --- shell --------------------------------------------------------------------------------------

function tenantAccess(slug) {
  return viewer?.tenants.find((t) => t.tenant.slug === slug) ?? null;
}

function shell(route, slug) {
  const access = slug ? tenantAccess(slug) : null;
  const navLink = (href, label, key) =>
    h('a', { href, class: 'nav-link', 'aria-current': route.key === key ? 'page' : null }, label);
  const liveBadge = h('span', { class: 'live-state', role: 'status', 'aria-live': 'polite' });
  const paintLive = (state) => {
    const labels = { idle: '', connecting: 'Connecting…', live: 'Live', retrying: 'Reconnecting…' };
    liveBadge.textContent = slug ? labels[state] ?? '' : '';
    liveBadge.dataset.state = state;
  };
  paintLive(liveState());
  const unlisten = onLiveState(paintLive);

  const tenantSwitcher = viewer.tenants.length > 1 && slug
    ? h('label', { class: 'tenant-switch' },
      h('span', { class: 'visually-hidden' }, 'Tenant'),
      h('select', {
        onchange: (e) => navigate(`/tenants/${encodeURIComponent(e.target.value)}`),
      }, viewer.tenants.map((t) => h('option', { value: t.tenant.slug, selected: t.tenant.slug === slug }, t.tenant.name))))
    : null;

  const header = h('header', { class: 'topbar' },
    h('a', { href: '#main', class: 'skip-link' }, 'Skip to content'),
    h('a', { href: '/', class: 'brand', 'aria-label': 'securescore: all tenants' }, 'securescore'),
    slug && access ? h('span', { class: 'tenant-name' }, access.tenant.name) : null,
    tenantSwitcher,
    slug && access
      ? h('nav', { 'aria-label': 'Tenant' },
        navLink(`/tenants/${encodeURIComponent(slug)}`, 'Overview', 'overview'),
        navLink(`/tenants/${encodeURIComponent(slug)}/actions`, 'Improvement actions', 'actions'),
        navLink(`/tenants/${encodeURIComponent(slug)}/history`, 'History', 'history'))
      : h('nav', { 'aria-label': 'Main' }, navLink('/', 'Tenants', 'tenants')),
    h('span', { class: 'spacer' }),
    liveBadge,
    h('span', { class: 'who' },
      h('span', { class: 'who-name' }, viewer.name),
      access ? h('span', { class: 'badge role', dataset: { role: access.role } }, access.role) : null),
    h('a', { href: '/graphql', class: 'nav-link', target: '_blank', rel: 'noopener' }, 'Playground'),
    h('button', { type: 'button', class: 'signout', onclick: () => signOut() }, 'Sign out'));
  const main = h('main', { id: 'main', tabindex: '-1' });
  replace(root, header, main);
  return { main, unlisten };
}

function signOut() {
  clearToken();
  history.pushState(null, '', '/');
  showSignIn();
  announce('Signed out');
}

// --- live updates -------------------------------------------------------------------------------

function startLive(slug) {
  if (live?.slug === slug) return live;
  stopLive();
  const scoreHandlers = new Set();
  const eventHandlers = new Set();
  const onError = (err) => {
    if (err.code === 'UNAUTHENTICATED') {
      clearToken();
      showSignIn(err.message);
    }
  };
  const stops = [
    subscribe(`subscription DashboardScore($slug: String!) { scoreUpdated(tenantSlug: $slug) { ${SECURE_SCORE} } }`,
      { slug }, (data) => scoreHandlers.forEach((fn) => fn(data.scoreUpdated)), onError),
    subscribe(`subscription DashboardEvents($slug: String!) { actionEvents(tenantSlug: $slug) { ${EVENT} } }`,
      { slug }, (data) => eventHandlers.forEach((fn) => fn(data.actionEvents)), onError),
  ];
  live = { slug, scoreHandlers, eventHandlers, stop: () => stops.forEach((stop) => stop()) };
  return live;
}

function stopLive() {
  if (live) live.stop();
  live = null;
}

// --- router -------------------------------------------------------------------------------------

function match(path) {
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (m) {
      return {
        route,
        params: {
          slug: m[1] ? decodeURIComponent(m[1]) : null,
          controlId: m[2] ? decodeURIComponent(m[2]) : null,
        },
      };
    }
  }
  return null;
}

function teardownPage() {
  if (!current) return;
  current.controller.abort();
  for (const fn of current.cleanups) {
    try { fn(); } catch { /* a cleanup must not stop the others */ }
  }
  current = null;
}

function context(route, params, main, cleanups, controller) {
  const access = params.slug ? tenantAccess(params.slug) : null;
  const role = access?.role ?? null;
  const subscriptions = params.slug ? startLive(params.slug) : null;
  return {
    main,
    params,
    query: new URLSearchParams(window.location.search),
    viewer,
    tenant: access ? { slug: access.tenant.slug, name: access.tenant.name, role } : null,
    canWrite: role === 'OPERATOR' || role === 'ADMIN',
    isAdmin: role === 'ADMIN',
    signal: controller.signal,
    navigate,
    setQuery,
    onCleanup: (fn) => cleanups.push(fn),
    live: {
      onScore: (fn) => {
        subscriptions?.scoreHandlers.add(fn);
        cleanups.push(() => subscriptions?.scoreHandlers.delete(fn));
      },
      onEvent: (fn) => {
        subscriptions?.eventHandlers.add(fn);
        cleanups.push(() => subscriptions?.eventHandlers.delete(fn));
      },
    },
  };
}

async function render() {
  if (!getToken()) return showSignIn();
  const path = window.location.pathname;
  const found = match(path);
  if (!found) {
    teardownPage();
    const { main } = shell({ key: 'none' }, null);
    replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '/' }, 'Go to your tenants.')));
    return;
  }
  const { route, params } = found;
  // The same page of the same tenant takes its own route changes (the flyout) if it can.
  if (current?.route === route && current.slug === params.slug && current.handle?.update) {
    const ctx = context(route, params, current.main, current.cleanups, current.controller);
    current.handle.update(ctx);
    return;
  }
  teardownPage();
  if (params.slug && !tenantAccess(params.slug)) {
    stopLive();
    const { main, unlisten } = shell({ key: 'none' }, null);
    current = { route: null, slug: null, cleanups: [unlisten], controller: new AbortController(), main };
    replace(main, h('h1', {}, 'Tenant not found'),
      h('p', {}, `There is no tenant “${params.slug}” that this token can read. `, h('a', { href: '/' }, 'Go to your tenants.')));
    return;
  }
  if (!params.slug) stopLive();
  const { main, unlisten } = shell(route, params.slug);
  const controller = new AbortController();
  const cleanups = [unlisten];
  current = { route, slug: params.slug, cleanups, controller, main, handle: null };
  const name = params.slug ? tenantAccess(params.slug).tenant.name : null;
  document.title = `${route.title(name)} · securescore`;
  replace(main, loading());
  try {
    const handle = await route.page.render(context(route, params, main, cleanups, controller));
    if (current?.controller === controller) current.handle = handle ?? null;
  } catch (err) {
    if (err?.name === 'AbortError' || controller.signal.aborted) return;
    if (err?.code === 'UNAUTHENTICATED') {
      clearToken();
      return showSignIn(err.message);
    }
    replace(main, errorBox(err, { title: 'This page could not be loaded' }));
  }
}

/** Goes to `path` (a path of this dashboard) without reloading. */
export function navigate(path, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

/** Puts `values` (an object; empty values are left out) into the URL's query, without drawing. */
export function setQuery(values) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (Array.isArray(value)) value.forEach((v) => query.append(key, v));
    else if (value !== null && value !== undefined && value !== '' && value !== false) query.set(key, value);
  }
  const search = query.toString();
  history.replaceState(null, '', `${window.location.pathname}${search ? `?${search}` : ''}`);
}

/** Loads the viewer (checks the token) and draws the page for the URL. */
async function start() {
  const data = await gql(VIEWER_QUERY);
  viewer = data.viewer;
  await render();
}

// Links inside the dashboard navigate without reloading.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest?.('a[href]');
  if (!link || link.target || link.hasAttribute('download')) return;
  const url = new URL(link.href, window.location.href);
  if (url.origin !== window.location.origin || !match(url.pathname)) return;
  if (url.hash && url.pathname === window.location.pathname) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', () => render());

if (getToken()) {
  start().catch((err) => {
    if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') {
      clearToken();
      showSignIn(err.message);
    } else {
      replace(root, h('main', { id: 'main' }, errorBox(err, { title: 'The dashboard could not start' })));
    }
  });
} else {
  showSignIn();
}
