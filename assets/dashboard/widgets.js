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
