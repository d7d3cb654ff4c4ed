// Widgets the pages share: filter drop-downs, tag chips, and two small utilities.

import { h } from './dom.js';

/** `1 action`, `3 actions`. */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `fn` called once `ms` after the last call. `.cancel()` drops a pending call. */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** A tag as a chip: a small swatch of its colour and its name. `extra`: more children. */
export function tagChip(tag, ...extra) {
  const swatch = h('span', { class: 'tag-swatch', 'aria-hidden': 'true' });
  swatch.style.backgroundColor = tag.color;
  return h('span', { class: 'tag-chip', dataset: { tag: tag.name } }, swatch, h('span', { class: 'tag-name' }, tag.name), extra);
}

/**
 * A filter drop-down: a `<details>` whose summary names the filter and what is chosen, holding
 * checkboxes (or radios with `single`, the first being "Any"). `onChange(values)` gets the
 * chosen values (an array; with `single`, the value or `null`). `options`: `{ value, label, color? }`
 * (a colour shows as a swatch).
 */
export function filterMenu({ key, label, options, selected, single = false, anyLabel = 'Any', hint, onChange }) {
  const value = h('span', { class: 'menu-value' });
  const summary = h('summary', {}, h('span', { class: 'menu-label' }, label), value);
  const inputs = [];
  const name = `filter-${key}`;
  const choices = single ? [{ value: '', label: anyLabel }, ...options] : options;
  const chosen = () => inputs.filter((i) => i.checked && i.value !== '');
  const paint = () => {
    const picked = chosen().map((i) => i.dataset.label);
    value.textContent = picked.length === 0 ? '' : picked.length === 1 ? picked[0] : `${picked.length} selected`;
    details.classList.toggle('active', picked.length > 0);
  };
  const list = h('fieldset', {},
    h('legend', { class: 'visually-hidden' }, label),
    choices.map((o) => {
      const input = h('input', {
        type: single ? 'radio' : 'checkbox',
        name,
        value: o.value,
        checked: single ? (selected ?? '') === o.value : selected.includes(o.value),
        dataset: { label: o.label },
        onchange: () => {
          paint();
          const values = chosen().map((i) => i.value);
          onChange(single ? values[0] ?? null : values);
        },
      });
      inputs.push(input);
      let swatch = null;
      if (o.color) {
        swatch = h('span', { class: 'tag-swatch', 'aria-hidden': 'true' });
        swatch.style.backgroundColor = o.color;
      }
      return h('label', { class: 'choice' }, input, swatch, h('span', {}, o.label));
    }),
    options.length === 0 ? h('p', { class: 'hint' }, 'Nothing to choose.') : null);
  const details = h('details', { class: 'filter-menu', dataset: { filter: key } },
    summary, h('div', { class: 'menu-panel' }, list, hint ? h('p', { class: 'hint' }, hint) : null));
  details.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && details.open) {
      event.stopPropagation();
      details.open = false;
      summary.focus();
    }
  });
  paint();
  return details;
}

/** Closes the open filter menus under `root` when a click lands outside them. Returns the remover. */
export function closeMenusOnOutsideClick(root) {
  const listener = (event) => {
    for (const menu of root.querySelectorAll('details.filter-menu[open]')) {
      if (!menu.contains(event.target)) menu.open = false;
    }
  };
  document.addEventListener('click', listener);
  return () => document.removeEventListener('click', listener);
}

/**
 * The loader of a list page that shows one page of a cursor connection. `state` holds the page's
 * cursor (`after`, `before`, `page`), which `ctx.setQuery(queryOf(state))` keeps in the URL.
 * `fetchPage(cursorVariables, signal)` runs the query; `connectionOf(data)` picks the connection.
 * Returns `load({ quiet })`, which supersedes a load in flight, marks `busy` with `aria-busy`
 * (unless quiet), starts again on the first page when a shared URL's cursor no longer fits,
 * forgets the cursor once back at the start, and calls `draw(data, connection)`; errors go to
 * `fail(err, quiet)`.
 */
export function pagedLoader({ ctx, state, queryOf, pageSize, busy, fetchPage, connectionOf, draw, fail }) {
  let seq = 0;
  let controller = null;
  const cursor = () => (state.before
    ? { last: pageSize, before: state.before }
    : { first: pageSize, after: state.after });
  const firstPage = () => {
    state.after = null;
    state.before = null;
    state.page = 1;
    ctx.setQuery(queryOf(state));
  };
  return async function load({ quiet = false } = {}) {
    const mine = ++seq;
    controller?.abort();
    const own = new AbortController();
    controller = own;
    const abort = () => own.abort();
    ctx.signal.addEventListener('abort', abort, { once: true });
    if (!quiet) busy.setAttribute('aria-busy', 'true');
    try {
      let data;
      try {
        data = await fetchPage(cursor(), own.signal);
      } catch (err) {
        if (err?.code !== 'BAD_USER_INPUT' || !(state.after || state.before)) throw err;
        firstPage();
        data = await fetchPage(cursor(), own.signal);
      }
      if (mine !== seq) return;
      const connection = connectionOf(data);
      // Back at the start (e.g. Previous from page 2): forget the cursor.
      if (!connection.pageInfo.hasPreviousPage && state.page !== 1) firstPage();
      draw(data, connection);
    } catch (err) {
      if (err?.name === 'AbortError' || mine !== seq) return;
      fail(err, quiet);
    } finally {
      ctx.signal.removeEventListener('abort', abort);
      if (mine === seq) busy.removeAttribute('aria-busy');
    }
  };
}
