// A small line chart in plain SVG (no library): days on the x axis, a value (a percentage by
// default) on the y axis, background bands (e.g. score zones), goal markers and any number of
// series, with a legend, a text summary for screen readers, a data table, and a cursor that
// follows the pointer or the arrow keys.
//
//   const chart = lineChart({ label, summary, from, to, series, bands, goals });
//   parent.append(chart.el);  …  chart.update({ …new options });  …  chart.destroy();
//
// Options:
//   label    accessible name (the SVG's <title>), e.g. 'Secure Score history'
//   summary  a sentence or two saying what the chart shows (the SVG's <desc>)
//   from, to first and last day (`YYYY-MM-DD`, inclusive) of the x axis
//   yMin, yMax the y axis (default 0 and 100); format(value) prints a value (default `45.5 %`)
//   bands    [{ from, to, tone: 'bad' | 'okay' | 'good' | …, label }] horizontal background bands
//   goals    [{ day, value, label }] a marker at (day, value), or a dashed line when day is
//            after the range
//   series   [{ id, label, color: 'var(--chart-1)', dashed (true or a dash array), emphasis,
//            points: [{ day, value }] }] where a `null` value breaks the line
//   tableCaption caption of the data table
//
// The SVG is drawn at the width of its container (its viewBox follows the width, so text stays
// at its size) and again when the container is resized. Colours are CSS variables of app.css,
// set through CSSOM (the page's Content-Security-Policy forbids style attributes).

const SVG_NS = 'http://www.w3.org/2000/svg';
const DAY_MS = 86_400_000;
const HEIGHT = 280;
const PAD = { top: 14, right: 16, bottom: 30, left: 46 };

let chartCount = 0;

/** An SVG element with attributes (`style` may be an object of CSS properties) and children. */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'style') Object.assign(el.style, value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** An HTML element (the legend, tooltip and table). */
function e(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'style') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'hidden') el.hidden = true;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** `YYYY-MM-DD` → milliseconds at UTC midnight. */
export function dayToMs(day) {
  const [y, m, d] = day.split('-').map(Number);
  return Date.UTC(y, m - 1, d);
}

/** Milliseconds → `YYYY-MM-DD` (UTC). */
export function msToDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** A day for people: `3 Mar` or `3 Mar 2026` (the API's days are UTC days). */
export function fmtDay(day, withYear = false) {
  return new Date(dayToMs(day)).toLocaleDateString(undefined, {
    timeZone: 'UTC', day: 'numeric', month: 'short', ...(withYear ? { year: 'numeric' } : {}),
  });
}

/** A outline in the background colour around text drawn over lines, so it stays readable. */
const HALO = { paintOrder: 'stroke', stroke: 'var(--surface)', strokeWidth: '3px', strokeLinejoin: 'round' };

const TONES = { bad: 'var(--bad-bg)', okay: 'var(--okay-bg)', good: 'var(--good-bg)' };
const TONE_LINES = { bad: 'var(--bad)', okay: 'var(--okay)', good: 'var(--good)' };

function defaultFormat(value) {
  return value === null || value === undefined ? '–' : `${value} %`;
}

/** Nice y ticks between min and max (about five). */
function yTicks(min, max) {
  const span = max - min || 1;
  const raw = span / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((m) => m >= raw) ?? raw;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) ticks.push(Math.round(v * 1000) / 1000);
  return ticks;
}

/** Days for the x axis labels: evenly spread, about one per `spacing` pixels. */
function xTicks(fromMs, toMs, width, spacing = 90) {
  const days = Math.round((toMs - fromMs) / DAY_MS);
  if (days <= 0) return [fromMs];
  const count = Math.max(2, Math.min(days + 1, Math.floor(width / spacing)));
  const step = Math.max(1, Math.round(days / (count - 1)));
  const ticks = [];
  for (let d = 0; d <= days; d += step) ticks.push(fromMs + d * DAY_MS);
  // Keep the last day, unless it would crowd the previous label.
  const last = ticks[ticks.length - 1];
  if (last !== toMs) {
    if ((toMs - last) / DAY_MS < step * 0.6) ticks.pop();
    ticks.push(toMs);
  }
  return ticks;
}

/**
 * Draws a chart (see the top of this file); returns `{ el, update(options), destroy() }`.
 */
export function lineChart(options) {
  const id = `chart-${++chartCount}`;
  let opts = options;
  let width = 0;
  let cursorIndex = null; // index into `allDays` of the cursor, when shown
  let allDays = []; // every day that has a value in some series, sorted

  const plot = e('div', { class: 'chart-plot' });
  const tooltip = e('div', { class: 'chart-tooltip', hidden: true, 'aria-hidden': 'true' });
  plot.append(tooltip);
  const legend = e('ul', { class: 'chart-legend', 'aria-label': 'Legend' });
  const notes = e('div', { class: 'chart-notes' });
  const tableHost = e('div', { class: 'chart-data-host' });
  const el = e('figure', { class: 'chart', id }, plot, legend, notes, tableHost);
  el.style.margin = '0';
  plot.style.position = 'relative';

  let svg = null;

  function scales() {
    const fromMs = dayToMs(opts.from);
    const toMs = Math.max(dayToMs(opts.to), fromMs);
    const yMin = opts.yMin ?? 0;
    const yMax = opts.yMax ?? 100;
    const plotW = Math.max(40, width - PAD.left - PAD.right);
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const x = (ms) => (toMs === fromMs
      ? PAD.left + plotW / 2
      : PAD.left + ((ms - fromMs) / (toMs - fromMs)) * plotW);
    const clampY = (v) => Math.min(yMax, Math.max(yMin, v));
    const y = (v) => PAD.top + (1 - (clampY(v) - yMin) / (yMax - yMin || 1)) * plotH;
    return { fromMs, toMs, yMin, yMax, plotW, plotH, x, y };
  }

  function draw() {
    const format = opts.format ?? defaultFormat;
    const sc = scales();
    const { fromMs, toMs, yMin, yMax, plotW, plotH, x, y } = sc;
    const muted = 'var(--muted)';
    const text = (attrs, content) => s('text', {
      ...attrs,
      style: { fill: muted, fontSize: '11px', fontFamily: 'inherit', ...(attrs.style ?? {}) },
    }, content);

    // Bands (zones).
    const bands = (opts.bands ?? []).map((band) => {
      const top = y(Math.min(band.to, yMax));
      const bottom = y(Math.max(band.from, yMin));
      if (bottom - top <= 0) return null;
      return s('rect', {
        x: PAD.left, y: top, width: plotW, height: bottom - top,
        class: `chart-band chart-band-${band.tone}`,
        style: { fill: TONES[band.tone] ?? 'var(--surface-2)', fillOpacity: '0.75' },
      }, s('title', {}, band.label));
    });
    const bandLabels = plotW > 260 ? (opts.bands ?? []).map((band) => {
      const top = y(Math.min(band.to, yMax));
      const bottom = y(Math.max(band.from, yMin));
      if (bottom - top < 14) return null;
      return text({
        x: PAD.left + 6, y: top + 12, 'text-anchor': 'start',
        style: { fill: TONE_LINES[band.tone] ?? muted, fontWeight: '600', ...HALO },
      }, band.label);
    }) : [];

    // Grid and axes.
    const grid = yTicks(yMin, yMax).map((v) => s('g', {},
      s('line', {
        x1: PAD.left, x2: PAD.left + plotW, y1: y(v), y2: y(v),
        style: { stroke: 'var(--border)', strokeWidth: '1' },
      }),
      text({ x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, format(v))));
    const xt = xTicks(fromMs, toMs, plotW);
    const spansYears = new Date(fromMs).getUTCFullYear() !== new Date(toMs).getUTCFullYear();
    const xAxis = xt.map((ms, i) => {
      const anchor = xt.length > 1 && i === 0 ? 'start' : i === xt.length - 1 && xt.length > 1 ? 'end' : 'middle';
      return s('g', {},
        s('line', {
          x1: x(ms), x2: x(ms), y1: PAD.top + plotH, y2: PAD.top + plotH + 4,
          style: { stroke: 'var(--border)' },
        }),
        text({ x: x(ms), y: PAD.top + plotH + 18, 'text-anchor': anchor },
          fmtDay(msToDay(ms), spansYears && (i === 0 || i === xt.length - 1))));
    });
    const baseline = s('line', {
      x1: PAD.left, x2: PAD.left + plotW, y1: PAD.top + plotH, y2: PAD.top + plotH,
      style: { stroke: 'var(--muted)', strokeWidth: '1' },
    });

    // Goals.
    const goals = (opts.goals ?? []).flatMap((goal) => {
      const ms = dayToMs(goal.day);
      if (ms < fromMs) return [];
      const inRange = ms <= toMs;
      const gy = y(goal.value);
      const endX = inRange ? x(ms) : PAD.left + plotW;
      const line = s('line', {
        x1: PAD.left, x2: endX, y1: gy, y2: gy, class: 'chart-goal',
        style: { stroke: 'var(--text)', strokeWidth: '1.25', strokeDasharray: '5 4', strokeOpacity: '0.65' },
      });
      const size = 6;
      const marker = inRange
        ? s('path', {
          d: `M ${endX} ${gy - size} L ${endX + size} ${gy} L ${endX} ${gy + size} L ${endX - size} ${gy} Z`,
          class: 'chart-goal-marker',
          style: { fill: 'var(--surface)', stroke: 'var(--text)', strokeWidth: '1.5' },
        }, s('title', {}, goal.label))
        : null;
      const labelText = inRange ? goal.label : `${goal.label} →`;
      const label = text({
        x: inRange ? Math.max(PAD.left + 4, endX - 10) : PAD.left + plotW - 4,
        y: gy - 7,
        'text-anchor': 'end',
        style: { fill: 'var(--text)', fontWeight: '600', ...HALO },
      }, labelText);
      return [s('g', { class: 'chart-goal-group' }, s('title', {}, goal.label), line, marker, label)];
    });

    // Series.
    const dense = (series) => series.points.filter((p) => p.value !== null && p.value !== undefined).length;
    const lines = (opts.series ?? []).map((series) => {
      let d = '';
      let pen = false;
      const sorted = [...series.points].sort((a, b) => dayToMs(a.day) - dayToMs(b.day));
      for (const p of sorted) {
        const ms = dayToMs(p.day);
        if (ms < fromMs || ms > toMs || p.value === null || p.value === undefined) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'} ${x(ms).toFixed(1)} ${y(p.value).toFixed(1)} `;
        pen = true;
      }
      const visible = sorted.filter((p) => p.value !== null && p.value !== undefined
        && dayToMs(p.day) >= fromMs && dayToMs(p.day) <= toMs);
      // Dots where a line cannot show the point (a lone day), all of them when there are few.
      const showAll = series.emphasis && dense(series) <= 45;
      const dots = visible.filter((p, i) => {
        if (showAll) return true;
        const prev = visible[i - 1];
        const next = visible[i + 1];
        const lone = (!prev || dayToMs(p.day) - dayToMs(prev.day) > DAY_MS * 1.5)
          && (!next || dayToMs(next.day) - dayToMs(p.day) > DAY_MS * 1.5);
        return lone || i === visible.length - 1;
      }).map((p) => s('circle', {
        cx: x(dayToMs(p.day)).toFixed(1), cy: y(p.value).toFixed(1), r: series.emphasis ? 3 : 2.5,
        style: { fill: series.color, stroke: 'var(--surface)', strokeWidth: '1' },
      }));
      return s('g', { class: 'chart-series', 'data-series': series.id },
        d ? s('path', {
          d: d.trim(),
          style: {
            fill: 'none', stroke: series.color, strokeWidth: series.emphasis ? '2.5' : '1.5',
            strokeOpacity: series.emphasis ? '1' : '0.85',
            strokeLinejoin: 'round', strokeLinecap: 'round',
            strokeDasharray: series.dashed ? (typeof series.dashed === 'string' ? series.dashed : '6 4') : 'none',
          },
        }) : null,
        dots);
    });

    const cursor = s('g', { class: 'chart-cursor', visibility: 'hidden' },
      s('line', {
        y1: PAD.top, y2: PAD.top + plotH, x1: 0, x2: 0,
        style: { stroke: 'var(--muted)', strokeWidth: '1', strokeDasharray: '3 3' },
      }));

    const titleId = `${id}-title`;
    const descId = `${id}-desc`;
    const next = s('svg', {
      viewBox: `0 0 ${width} ${HEIGHT}`,
      width: '100%',
      height: HEIGHT,
      role: 'img',
      'aria-labelledby': titleId,
      'aria-describedby': descId,
      tabindex: '0',
      class: 'chart-svg',
      preserveAspectRatio: 'xMinYMin meet',
      style: { display: 'block', overflow: 'visible', maxWidth: '100%' },
    },
    s('title', { id: titleId }, opts.label ?? 'Chart'),
    s('desc', { id: descId }, opts.summary ?? ''),
    s('g', { class: 'chart-bands' }, bands),
    s('g', { class: 'chart-grid' }, grid),
    s('g', { class: 'chart-band-labels', 'aria-hidden': 'true' }, bandLabels),
    baseline,
    s('g', { class: 'chart-x-axis', 'aria-hidden': 'true' }, xAxis),
    s('g', { class: 'chart-goals' }, goals),
    s('g', { class: 'chart-lines' }, lines),
    cursor,
    // Catches the pointer over the plot area.
    s('rect', {
      x: PAD.left, y: PAD.top, width: plotW, height: plotH, class: 'chart-hit',
      style: { fill: 'transparent' },
    }));
    next.addEventListener('pointermove', (event) => moveCursorTo(event));
    next.addEventListener('pointerleave', () => hideCursor());
    next.addEventListener('blur', () => hideCursor());
    next.addEventListener('keydown', (event) => onKey(event));
    if (svg) svg.replaceWith(next);
    else plot.prepend(next);
    svg = next;
    svg.__cursor = cursor;
    svg.__scales = sc;
    if (cursorIndex !== null) showCursor(cursorIndex);
  }

  // --- cursor ---------------------------------------------------------------------------------

  function collectDays() {
    const set = new Set();
    const fromMs = dayToMs(opts.from);
    const toMs = dayToMs(opts.to);
    for (const series of opts.series ?? []) {
      for (const p of series.points) {
        const ms = dayToMs(p.day);
        if (ms >= fromMs && ms <= toMs && p.value !== null && p.value !== undefined) set.add(p.day);
      }
    }
    allDays = [...set].sort();
  }

  function valuesOn(day) {
    return (opts.series ?? []).map((series) => ({
      series,
      value: series.points.find((p) => p.day === day)?.value ?? null,
    }));
  }

  function showCursor(index) {
    if (!svg || !allDays.length) return;
    cursorIndex = Math.max(0, Math.min(allDays.length - 1, index));
    const day = allDays[cursorIndex];
    const { x, y } = svg.__scales;
    const cx = x(dayToMs(day));
    const cursor = svg.__cursor;
    cursor.setAttribute('visibility', 'visible');
    const line = cursor.querySelector('line');
    line.setAttribute('x1', cx);
    line.setAttribute('x2', cx);
    cursor.querySelectorAll('circle').forEach((c) => c.remove());
    const values = valuesOn(day);
    for (const { series, value } of values) {
      if (value === null) continue;
      cursor.append(s('circle', {
        cx, cy: y(value), r: 4.5,
        style: { fill: series.color, stroke: 'var(--surface)', strokeWidth: '2' },
      }));
    }
    const format = opts.format ?? defaultFormat;
    tooltip.replaceChildren(
      e('div', { class: 'chart-tooltip-day' }, fmtDay(day, true)),
      ...values.filter((v) => v.value !== null).map(({ series, value }) => {
        const swatch = e('span', { class: 'chart-swatch', 'aria-hidden': 'true' });
        swatch.style.background = series.color;
        return e('div', { class: 'chart-tooltip-row' }, swatch, e('span', {}, series.label), e('strong', {}, format(value)));
      }));
    tooltip.hidden = false;
    const plotWidth = plot.clientWidth || width;
    const tipWidth = tooltip.offsetWidth || 160;
    const scale = plotWidth / (width || plotWidth);
    const left = cx * scale;
    tooltip.style.left = `${Math.min(Math.max(0, left + 12), Math.max(0, plotWidth - tipWidth - 4))}px`;
    if (left + 12 + tipWidth > plotWidth && left - 12 - tipWidth >= 0) {
      tooltip.style.left = `${left - 12 - tipWidth}px`;
    }
    tooltip.style.top = `${PAD.top}px`;
  }

  function hideCursor() {
    cursorIndex = null;
    tooltip.hidden = true;
    svg?.__cursor?.setAttribute('visibility', 'hidden');
  }

  function moveCursorTo(event) {
    if (!svg || !allDays.length) return;
    const rect = svg.getBoundingClientRect();
    const scale = width / (rect.width || width);
    const px = (event.clientX - rect.left) * scale;
    const { x } = svg.__scales;
    let best = 0;
    let bestDist = Infinity;
    allDays.forEach((day, i) => {
      const dist = Math.abs(x(dayToMs(day)) - px);
      if (dist < bestDist) {
        bestDist = dist;
        best = i;
      }
    });
    showCursor(best);
  }

  function onKey(event) {
    if (!allDays.length) return;
    const keys = {
      ArrowRight: (i) => (i ?? -1) + 1,
      ArrowLeft: (i) => (i ?? allDays.length) - 1,
      Home: () => 0,
      End: () => allDays.length - 1,
    };
    if (event.key === 'Escape') {
      hideCursor();
      return;
    }
    const move = keys[event.key];
    if (!move) return;
    event.preventDefault();
    showCursor(move(cursorIndex));
  }

  // --- legend, notes, table ---------------------------------------------------------------------

  function drawLegend() {
    const items = (opts.series ?? []).map((series) => {
      const swatch = e('span', { class: `chart-swatch${series.dashed ? ' chart-swatch-dashed' : ''}`, 'aria-hidden': 'true' });
      if (series.dashed) {
        swatch.style.height = '0';
        swatch.style.borderTop = `2px ${series.dashed === true || String(series.dashed).split(' ')[0] > 3 ? 'dashed' : 'dotted'} ${series.color}`;
      } else {
        swatch.style.background = series.color;
      }
      return e('li', { 'data-series': series.id }, swatch, series.label);
    });
    for (const band of opts.bands ?? []) {
      const swatch = e('span', { class: 'chart-swatch chart-swatch-band', 'aria-hidden': 'true' });
      swatch.style.background = TONES[band.tone] ?? 'var(--surface-2)';
      swatch.style.borderColor = TONE_LINES[band.tone] ?? 'var(--border)';
      items.push(e('li', { class: 'chart-legend-band' }, swatch, band.label));
    }
    if ((opts.goals ?? []).some((g) => dayToMs(g.day) >= dayToMs(opts.from))) {
      items.push(e('li', { class: 'chart-legend-goal' },
        e('span', { class: 'chart-swatch chart-swatch-goal', 'aria-hidden': 'true' }), 'Goal'));
    }
    legend.replaceChildren(...items);
  }

  function drawNotes() {
    notes.replaceChildren(...(opts.notes ?? []).map((note) => e('p', { class: 'chart-note' }, note)));
  }

  function drawTable() {
    const format = opts.format ?? defaultFormat;
    const series = opts.series ?? [];
    const rows = [...allDays].reverse().map((day) => e('tr', {},
      e('th', { scope: 'row' }, fmtDay(day, true)),
      series.map((sr) => e('td', { class: 'num' }, format(sr.points.find((p) => p.day === day)?.value ?? null)))));
    const table = e('table', { class: 'chart-table' },
      e('caption', { class: 'visually-hidden' }, opts.tableCaption ?? opts.label ?? 'Data'),
      e('thead', {}, e('tr', {},
        e('th', { scope: 'col' }, 'Day'),
        series.map((sr) => e('th', { scope: 'col', class: 'num' }, sr.label)))),
      e('tbody', {}, rows.length ? rows : e('tr', {}, e('td', { colspan: String(series.length + 1) }, 'No data in this range.'))));
    const details = e('details', { class: 'chart-data' },
      e('summary', {}, `Data table (${allDays.length} ${allDays.length === 1 ? 'day' : 'days'})`),
      e('div', { class: 'table-wrap chart-table-wrap' }, table));
    const previous = tableHost.querySelector('details');
    if (previous?.open) details.open = true;
    tableHost.replaceChildren(details);
  }

  function measure() {
    const w = Math.round(plot.clientWidth || el.clientWidth || 720);
    return Math.max(260, w);
  }

  function render() {
    collectDays();
    if (cursorIndex !== null && cursorIndex >= allDays.length) cursorIndex = null;
    width = measure();
    draw();
    drawLegend();
    drawNotes();
    drawTable();
  }

  const observer = typeof ResizeObserver === 'function'
    ? new ResizeObserver(() => {
      const w = measure();
      if (Math.abs(w - width) > 2) {
        width = w;
        draw();
      }
    })
    : null;
  observer?.observe(plot);

  render();

  return {
    el,
    update(next) {
      opts = { ...opts, ...next };
      render();
    },
    destroy() {
      observer?.disconnect();
    },
  };
}
