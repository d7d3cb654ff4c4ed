// The action flyout: one improvement action in a side panel over the actions list (a modal
// dialog; full width when narrow). At a glance, implementation, status change (or a device
// exception), notes, tags, share links and the action's event history. Writers (OPERATOR,
// ADMIN) get the controls that change data, each marked `data-write`; readers see none.
//
// Used by pages/actions.js:
//   const flyout = createFlyout({ host, slug, canWrite, isAdmin, viewerName, tenantTags, inert,
//                                 onScore(current), onRequestClose() });
//   flyout.open(controlId) / flyout.close() / flyout.setOpener(el) / flyout.onEvent(event) /
//   flyout.destroy()
// The page owns the URL: Escape, the Close button and the backdrop call `onRequestClose`, and
// the page calls `close()` when its route no longer names an action.

import { gql, mutate } from './api.js';
import {
  CATEGORY_LABELS, LEVEL_LABELS, STATUS_LABELS, TIER_LABELS,
  announce, errorBox, fmtDate, fmtDateTime, fmtDelta, fmtPercent, fmtPoints, h, humanize, isoDay, loading,
  replace, statusBadge, toast,
} from './dom.js';
import { EVENT, USER_ERRORS } from './fragments.js';

const ACTION = `
  id controlId title category service threats tier userImpact userImpactDescription implementationCost
  actionType usersAffected status implemented total progress implementationStatus prerequisites licensed
  seatShortfall requiredLicensePlans remediation learnMoreUrls actionUrl maxPoints pointsAchieved
  pointsRemaining scoreImpact rank reviewBy version statusChangedAt updatedAt
  tags { id name color }
  notes { id body authorName createdAt updatedAt }
  shareLinks { id platform createdBy createdAt expiresAt lastUsedAt useCount revoked revokedAt }
  history(first: 20) { totalCount nodes { ${EVENT} } }
  peerAdoption {
    day suppressedMessage
    figures { size donePercent completedPercent resolvedPercent plannedPercent riskAcceptedPercent }
  }
`;

const SCORE = 'score { id current { points max percentage } }';

const QUERY = `query ActionFlyout($slug: String!, $controlId: String!) {
  tenant(slug: $slug) { id tags { id name color } improvementAction(controlId: $controlId) { ${ACTION} } }
}`;

const SET_STATUS = `mutation FlyoutSetStatus($input: SetActionStatusInput!) {
  setActionStatus(input: $input) { changed action { ${ACTION} } ${SCORE} ${USER_ERRORS} }
}`;
const UNDO = `mutation FlyoutUndo($input: UndoActionStatusInput!) {
  undoActionStatus(input: $input) { changed action { ${ACTION} } ${SCORE} ${USER_ERRORS} }
}`;
const EXCEPTION = `mutation FlyoutException($input: RecordDeviceExceptionInput!) {
  recordDeviceException(input: $input) {
    exception { id scope justification expiresAt } action { ${ACTION} } ${SCORE} ${USER_ERRORS}
  }
}`;
const ADD_NOTE = `mutation FlyoutAddNote($input: AddActionNoteInput!) {
  addActionNote(input: $input) { note { id } action { ${ACTION} } ${USER_ERRORS} }
}`;
const UPDATE_NOTE = `mutation FlyoutUpdateNote($input: UpdateActionNoteInput!) {
  updateActionNote(input: $input) { note { id } action { ${ACTION} } ${USER_ERRORS} }
}`;
const DELETE_NOTE = `mutation FlyoutDeleteNote($input: DeleteActionNoteInput!) {
  deleteActionNote(input: $input) { note { id } action { ${ACTION} } ${USER_ERRORS} }
}`;
const ADD_TAGS = `mutation FlyoutAddTags($input: ActionTagsInput!) {
  addActionTags(input: $input) { changed actions { ${ACTION} } ${USER_ERRORS} }
}`;
const REMOVE_TAGS = `mutation FlyoutRemoveTags($input: ActionTagsInput!) {
  removeActionTags(input: $input) { changed actions { ${ACTION} } ${USER_ERRORS} }
}`;
const SHARE = `mutation FlyoutShare($input: CreateShareLinkInput!) {
  createShareLink(input: $input) {
    shareLink { id platform expiresAt } url mailtoUrl teamsUrl plannerTask { title description } ${USER_ERRORS}
  }
}`;
const REVOKE = `mutation FlyoutRevoke($input: RevokeShareLinkInput!) {
  revokeShareLink(input: $input) { shareLink { id revoked } ${USER_ERRORS} }
}`;

/** Statuses a person may set (COMPLETED is the product's), with what they mean. */
const SETTABLE = {
  TO_ADDRESS: 'Open: earns points as it is implemented.',
  PLANNED: 'Work is planned: earns like To address, and counts in the planned score.',
  RISK_ACCEPTED: 'The risk is accepted: earns nothing and is left out of lists by default.',
  RESOLVED_THIRD_PARTY: 'A third-party product covers it: earns its points, but not in the verified score.',
  RESOLVED_ALTERNATE_MITIGATION: 'Another mitigation covers it: earns its points, but not in the verified score.',
};
/** Statuses that may carry a review date. */
const REVIEWABLE = new Set(['RISK_ACCEPTED', 'RESOLVED_THIRD_PARTY', 'RESOLVED_ALTERNATE_MITIGATION']);

const SCOPES = {
  GLOBAL: 'Every device (sets the status)',
  DEVICE_GROUP: 'One device group (recorded only)',
};
const JUSTIFICATIONS = {
  THIRD_PARTY_CONTROL: 'A third-party control covers it',
  ALTERNATE_MITIGATION: 'An alternate mitigation covers it',
  RISK_ACCEPTED: 'The risk is accepted',
  PLANNED_REMEDIATION: 'Remediation is planned',
};
const JUSTIFICATION_STATUS = {
  THIRD_PARTY_CONTROL: 'RESOLVED_THIRD_PARTY',
  ALTERNATE_MITIGATION: 'RESOLVED_ALTERNATE_MITIGATION',
  RISK_ACCEPTED: 'RISK_ACCEPTED',
  PLANNED_REMEDIATION: 'PLANNED',
};

/** Titles and advice for the user-error codes of the flyout's mutations. */
const ERROR_TEXT = {
  CONFLICT: {
    title: 'Someone changed this action in the meantime',
    advice: 'Load the latest version, check it, and save again.',
  },
  STATUS_LOCKED: { title: 'The status is locked', advice: 'Completed actions keep the status the product set.' },
  DEVICE_STATUS_MANAGED_EXTERNALLY: {
    title: 'Managed in Defender for Endpoint',
    advice: 'Record an exception instead.',
  },
  BAD_USER_INPUT: { title: 'Please check the form' },
  NOT_FOUND: { title: 'Not found' },
};

const ACTION_TYPES = { CONFIG: 'Configuration', REVIEW: 'Review', BEHAVIOR: 'Behaviour' };
const PLATFORMS = { LINK: 'Link', EMAIL: 'Email', TEAMS: 'Teams', PLANNER: 'Planner' };

export const EVENT_LABELS = {
  STATUS_CHANGED: 'Status changed',
  PROGRESS_CHANGED: 'Progress recorded',
  COMPLETED: 'Completed',
  REGRESSED: 'Regressed',
  EXPIRED: 'Expired',
  EXCEPTION_RECORDED: 'Exception recorded',
  NOTE_ADDED: 'Note added',
  NOTE_EDITED: 'Note edited',
  NOTE_DELETED: 'Note deleted',
  TAG_ADDED: 'Tag added',
  TAG_REMOVED: 'Tag removed',
  SHARED: 'Shared',
  SHARE_REVOKED: 'Share link revoked',
  UNDONE: 'Undone',
  IMPORTED: 'Imported',
};

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** A day of a date input as a timestamp: noon UTC, so it reads as that day in most time zones. */
function dayToDateTime(day) {
  return day ? `${day}T12:00:00Z` : null;
}
function dateTimeToDay(value) {
  return value ? new Date(value).toISOString().slice(0, 10) : '';
}

/** The status change of an event (`To address → Planned`), or null. */
export function statusChange(event) {
  if (!event.statusBefore && !event.statusAfter) return null;
  if (event.statusBefore === event.statusAfter) return h('span', { class: 'status-change' }, statusBadge(event.statusAfter));
  return h('span', { class: 'status-change' },
    event.statusBefore ? statusBadge(event.statusBefore) : h('span', { class: 'muted' }, '–'),
    h('span', { class: 'arrow', 'aria-label': 'to' }, ' → '),
    event.statusAfter ? statusBadge(event.statusAfter) : h('span', { class: 'muted' }, '–'));
}

/** A points delta coloured by its sign. */
export function deltaBadge(delta) {
  if (delta === null || delta === undefined) return h('span', { class: 'muted' }, '–');
  const cls = delta > 0 ? 'delta up' : delta < 0 ? 'delta down' : 'delta';
  return h('span', { class: cls }, fmtDelta(delta));
}

let idCounter = 0;
const uid = (prefix) => `${prefix}-${++idCounter}`;

export function createFlyout(options) {
  const { host, slug, canWrite, isAdmin, viewerName, inert, onScore, onRequestClose } = options;
  let tenantTags = options.tenantTags ?? [];
  let controlId = null;
  let action = null;
  let opener = null;
  let seq = 0;
  let controller = null;
  let refreshTimer = null;
  let sections = null; // the parts of the open action, see build()

  const closeButton = h('button', { type: 'button', class: 'close', 'aria-label': 'Close', onclick: () => onRequestClose() }, '×');
  const title = h('h2', { id: 'flyout-title', class: 'flyout-title', tabindex: '-1' });
  const subtitle = h('p', { class: 'flyout-sub' });
  const head = h('header', { class: 'flyout-head' }, h('div', { class: 'flyout-heading' }, title, subtitle), closeButton);
  const body = h('div', { class: 'flyout-body' });
  const panel = h('aside', {
    class: 'flyout',
    role: 'dialog',
    'aria-modal': 'true',
    'aria-labelledby': 'flyout-title',
    'data-testid': 'flyout',
    hidden: true,
  }, head, body);
  const backdrop = h('div', { class: 'flyout-backdrop', hidden: true, onclick: () => onRequestClose() });
  host.append(backdrop, panel);

  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      onRequestClose();
    } else if (event.key === 'Tab') {
      const items = [...panel.querySelectorAll(FOCUSABLE)].filter((el) => el.offsetParent !== null || el === document.activeElement);
      if (items.length === 0) return;
      const first = items[0];
      const last = items[items.length - 1];
      if (event.shiftKey && (document.activeElement === first || document.activeElement === title)) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    }
  });
  // Focus that leaves the dialog (e.g. a click on the page behind) comes back.
  const keepFocusIn = (event) => {
    if (!panel.hidden && !panel.contains(event.target) && event.target !== document.body) title.focus();
  };
  document.addEventListener('focusin', keepFocusIn);

  function isOpen() {
    return !panel.hidden;
  }

  function show() {
    if (isOpen()) return;
    if (!opener) opener = document.activeElement !== document.body ? document.activeElement : null;
    panel.hidden = false;
    backdrop.hidden = false;
    if (inert) inert.inert = true;
    host.classList.add('has-flyout');
  }

  function open(id) {
    if (id === controlId && isOpen()) return;
    controlId = id;
    action = null;
    sections = null;
    title.textContent = id;
    replace(subtitle);
    replace(body, loading('Loading the action'));
    show();
    title.focus();
    load({ first: true });
  }

  function close() {
    if (!isOpen()) return;
    seq += 1;
    controller?.abort();
    clearTimeout(refreshTimer);
    panel.hidden = true;
    backdrop.hidden = true;
    if (inert) inert.inert = false;
    host.classList.remove('has-flyout');
    const back = opener?.isConnected ? opener
      : host.querySelector(`tr[data-control-id="${CSS.escape(controlId ?? '')}"] a`);
    controlId = null;
    action = null;
    sections = null;
    opener = null;
    replace(body);
    back?.focus();
  }

  async function load({ first = false } = {}) {
    const mine = ++seq;
    controller?.abort();
    controller = new AbortController();
    try {
      const data = await gql(QUERY, { slug, controlId }, { signal: controller.signal });
      if (mine !== seq) return;
      tenantTags = data.tenant?.tags ?? tenantTags;
      const found = data.tenant?.improvementAction;
      if (!found) {
        title.textContent = 'Action not found';
        replace(body, errorBox({ code: 'NOT_FOUND', message: `There is no action “${controlId}” in this tenant.` }, { title: 'Not found' }));
        return;
      }
      setAction(found, { remote: !first });
      if (first) announce(`${found.title}: details open`);
    } catch (err) {
      if (err?.name === 'AbortError' || mine !== seq) return;
      if (first) replace(body, errorBox(err, { title: 'The action could not be loaded' }));
      else toast('The action could not be refreshed.', 'error');
    }
  }

  function onEvent(event) {
    if (!isOpen() || event.controlId !== controlId) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => load(), 300);
  }

  /** Shows `next` (the action as the API has it now). `remote`: the change was someone else's. */
  function setAction(next, { remote = false } = {}) {
    if (!isOpen() || next.controlId !== controlId) return;
    action = next;
    if (!sections) build();
    keepFocus(() => paint(remote));
  }

  // The focused control may be drawn again: focus its new twin (same data-focus key), or the title.
  function keepFocus(fn) {
    const active = document.activeElement;
    const key = panel.contains(active) ? active?.dataset?.focus : null;
    fn();
    if (panel.contains(document.activeElement)) return;
    if (!panel.contains(active) && active !== document.body) return;
    const twin = key ? panel.querySelector(`[data-focus="${CSS.escape(key)}"]`) : null;
    (twin ?? title).focus();
  }

  // --- building the panel for one action ---------------------------------------------------------

  function section(key, heading, ...content) {
    const id = uid(`flyout-${key}`);
    return h('section', { class: `flyout-section section-${key}`, 'aria-labelledby': id, dataset: { section: key } },
      h('h3', { id, tabindex: '-1' }, heading), content);
  }

  function build() {
    const glance = h('div', {});
    const implementation = h('div', {});
    const statusBox = h('div', {});
    const notesList = h('div', {});
    const tagsBox = h('div', {});
    const shareList = h('div', {});
    const historyBox = h('div', {});
    const peersBox = h('div', {});
    sections = {
      glance, implementation, peersBox, statusBox, notesList, tagsBox, shareList, historyBox,
      statusForm: null, statusKind: null,
      noteForm: canWrite ? noteForm() : null,
      shareTools: canWrite ? shareTools() : null,
    };
    replace(body,
      section('glance', 'At a glance', glance),
      section('implementation', 'Implementation', implementation),
      section('peers', 'What peers did', peersBox),
      canWrite ? section('status', 'Change the status', statusBox) : null,
      section('notes', 'Notes', sections.noteForm?.el ?? null, notesList),
      section('tags', 'Tags', tagsBox),
      section('share', 'Share', sections.shareTools?.el ?? null, shareList),
      section('history', 'History', historyBox));
  }

  function paint(remote) {
    const a = action;
    title.textContent = a.title;
    replace(subtitle,
      h('span', { class: 'control-id' }, a.controlId),
      h('span', { class: 'sep', 'aria-hidden': 'true' }, ' · '),
      CATEGORY_LABELS[a.category] ?? humanize(a.category),
      h('span', { class: 'sep', 'aria-hidden': 'true' }, ' · '),
      a.service);
    paintGlance(a);
    paintImplementation(a);
    paintPeers(a);
    if (canWrite) paintStatus(a, remote);
    paintNotes(a);
    paintTags(a);
    paintShareLinks(a);
    paintHistory(a);
  }

  // --- what peers did (ALL_TENANTS cohort, privacy-protected figures) ---

  function paintPeers(a) {
    const adoption = a.peerAdoption;
    const f = adoption?.figures;
    if (!f) {
      replace(sections.peersBox, h('p', { class: 'hint' }, adoption?.suppressedMessage ?? 'No peer figures yet.'));
      return;
    }
    const fact = (label, value) => h('div', { class: 'fact' }, h('dt', {}, label), h('dd', {}, fmtPercent(value)));
    replace(sections.peersBox,
      h('p', { class: 'hint' }, `Of about ${f.size} other organisations${adoption.day ? ` on ${fmtDate(adoption.day)}` : ''}, with privacy noise:`),
      h('dl', { class: 'facts', 'data-testid': 'peer-adoption' },
        fact('Completed', f.completedPercent),
        fact('Resolved by other means', f.resolvedPercent),
        fact('Planned', f.plannedPercent),
        fact('Risk accepted', f.riskAcceptedPercent)));
  }

  // --- at a glance ---

  function paintGlance(a) {
    const item = (label, ...value) => h('div', { class: 'fact' }, h('dt', {}, label), h('dd', {}, value));
    const fill = h('span', { class: 'bar-fill' });
    fill.style.width = `${Math.round(Math.max(0, Math.min(1, a.progress)) * 100)}%`;
    replace(sections.glance,
      h('div', { class: 'glance-top' },
        h('div', { class: 'glance-status' }, statusBadge(a.status),
          a.reviewBy ? h('span', { class: 'muted' }, ` review by ${fmtDate(a.reviewBy)}`) : null),
        h('div', { class: 'glance-points' },
          h('span', { class: 'big', 'data-testid': 'action-points' }, `${fmtPoints(a.pointsAchieved)} / ${fmtPoints(a.maxPoints)}`),
          h('span', { class: 'muted' }, ' points'),
          a.pointsRemaining > 0 ? h('div', { class: 'muted small' }, `${fmtPoints(a.pointsRemaining)} left to gain`) : null)),
      h('dl', { class: 'facts' },
        item('Rank', a.rank === null ? h('span', { class: 'muted' }, 'Not ranked') : `#${a.rank}`),
        item('Score impact', a.scoreImpact > 0 ? fmtDelta(a.scoreImpact, ' %') : fmtPercent(a.scoreImpact)),
        item('Category', CATEGORY_LABELS[a.category] ?? humanize(a.category)),
        item('Service', a.service),
        item('Tier', TIER_LABELS[a.tier] ?? humanize(a.tier)),
        item('Action type', ACTION_TYPES[a.actionType] ?? humanize(a.actionType)),
        item('Implementation cost', LEVEL_LABELS[a.implementationCost] ?? humanize(a.implementationCost)),
        item('Users affected', String(a.usersAffected)),
        item('Progress',
          h('span', {}, `${a.implemented} of ${a.total} implemented`),
          h('span', { class: 'bar', 'aria-hidden': 'true' }, fill),
          a.implementationStatus ? h('span', { class: 'muted small block' }, a.implementationStatus) : null),
        item('Review by', a.reviewBy ? fmtDate(a.reviewBy) : h('span', { class: 'muted' }, 'No review date')),
        item('Status changed', fmtDateTime(a.statusChangedAt)),
        item('Threats', a.threats.length
          ? h('span', { class: 'chips' }, a.threats.map((t) => h('span', { class: 'chip' }, t)))
          : h('span', { class: 'muted' }, 'None named')),
        h('div', { class: 'fact wide' },
          h('dt', {}, 'User impact'),
          h('dd', {}, h('strong', {}, LEVEL_LABELS[a.userImpact] ?? humanize(a.userImpact)),
            a.userImpactDescription ? h('span', { class: 'prose block' }, a.userImpactDescription) : null))));
  }

  // --- implementation ---

  function paintImplementation(a) {
    const external = (href, text) => h('a', { href, target: '_blank', rel: 'noopener' }, text);
    const linkText = (url) => {
      try {
        const u = new URL(url);
        return `${u.hostname}${u.pathname.length > 1 ? u.pathname : ''}`;
      } catch {
        return url;
      }
    };
    replace(sections.implementation,
      h('h4', {}, 'Prerequisites'),
      h('p', { class: 'prose' }, a.prerequisites || h('span', { class: 'muted' }, 'None.')),
      h('h4', {}, 'Licence'),
      h('p', {},
        a.licensed ? h('span', { class: 'badge licensed' }, 'Licensed') : h('span', { class: 'badge unlicensed' }, 'Not licensed'),
        ' ',
        a.requiredLicensePlans.length
          ? ['Any of: ', h('span', { class: 'chips' }, a.requiredLicensePlans.map((p) => h('code', { class: 'chip' }, p)))]
          : h('span', { class: 'muted' }, 'No licence needed.')),
      a.seatShortfall > 0
        ? h('p', { class: 'warning' }, `${a.seatShortfall} affected ${a.seatShortfall === 1 ? 'user is' : 'users are'} beyond the seats of the licence.`)
        : null,
      h('h4', {}, 'Remediation'),
      h('div', { class: 'prose remediation' }, a.remediation || h('span', { class: 'muted' }, 'No steps given.')),
      a.learnMoreUrls.length || a.actionUrl
        ? [h('h4', {}, 'Learn more'),
          h('ul', { class: 'links' },
            a.actionUrl ? h('li', {}, external(a.actionUrl, 'Manage this setting'), h('span', { class: 'muted' }, ' (opens the admin centre)')) : null,
            a.learnMoreUrls.map((url) => h('li', {}, external(url, linkText(url)))))]
        : null);
  }

  // --- status (writers) ---

  function messageBox() {
    return h('div', { class: 'message', 'aria-live': 'polite' });
  }

  /** Runs `fn` with `button` busy; shows errors in `box`. Returns the payload or null. */
  async function run(button, box, fn) {
    button.disabled = true;
    replace(box);
    try {
      return await fn();
    } catch (err) {
      showError(box, err);
      return null;
    } finally {
      button.disabled = false;
    }
  }

  /** An error box with a title and advice that fit the error's code. */
  function showError(box, err) {
    const known = ERROR_TEXT[err?.code];
    replace(box,
      errorBox(err, { title: known?.title ?? 'That did not work' }),
      known?.advice && err?.userErrors ? h('p', { class: 'hint' }, known.advice) : null);
  }

  /** Says what a change did; `quiet` when the panel shows it in place (notes, tags). */
  function done(message, { quiet = false } = {}) {
    announce(message);
    if (!quiet) toast(message);
  }

  function paintStatus(a, remote) {
    const locked = a.status === 'COMPLETED';
    const kind = a.category === 'DEVICE' ? (locked ? 'device-locked' : 'device') : locked ? 'locked' : 'status';
    if (sections.statusKind !== kind || !sections.statusForm) {
      sections.statusKind = kind;
      sections.statusForm = kind.startsWith('device') ? exceptionForm(locked) : kind === 'locked' ? lockedNotice() : statusForm();
      sections.undo = undoTool();
      replace(sections.statusBox, sections.statusForm.el, sections.undo.el);
    }
    sections.statusForm.sync(a, remote);
  }

  function lockedNotice() {
    const text = h('p', { class: 'calm' });
    return {
      el: h('div', {}, text),
      sync: (a) => {
        text.textContent = `Completed: ${a.implemented} of ${a.total} implemented. The product sets this status itself, so it cannot be changed by hand.`;
      },
    };
  }

  function statusForm() {
    const ids = { status: uid('status'), review: uid('review'), comment: uid('comment'), hint: uid('status-hint') };
    let baseVersion = null;
    let dirty = false;
    const select = h('select', { id: ids.status, name: 'status', 'data-write': true, 'aria-describedby': ids.hint },
      Object.keys(SETTABLE).map((s) => h('option', { value: s }, STATUS_LABELS[s])));
    const hint = h('p', { id: ids.hint, class: 'hint' });
    const review = h('input', { id: ids.review, type: 'date', name: 'reviewBy', 'data-write': true, min: isoDay(-1) });
    const reviewField = h('div', { class: 'field' },
      h('label', { for: ids.review }, 'Review by'),
      review,
      h('p', { class: 'hint' }, 'Optional. On that day the action returns to To address.'));
    const comment = h('textarea', { id: ids.comment, name: 'comment', rows: 3, 'data-write': true, maxlength: 10000, placeholder: 'Why? (kept as a note)' });
    const save = h('button', { type: 'submit', class: 'primary', 'data-write': true }, 'Save status');
    const stale = h('div', { class: 'stale', hidden: true });
    const box = messageBox();
    let original = null;

    const paintFields = () => {
      hint.textContent = SETTABLE[select.value] ?? '';
      reviewField.hidden = !REVIEWABLE.has(select.value);
    };
    const reset = (a) => {
      original = a;
      baseVersion = a.version;
      select.value = SETTABLE[a.status] ? a.status : 'TO_ADDRESS';
      review.value = REVIEWABLE.has(a.status) ? dateTimeToDay(a.reviewBy) : '';
      dirty = false;
      stale.hidden = true;
      paintFields();
    };
    const markDirty = () => { dirty = true; };
    select.addEventListener('change', () => { markDirty(); paintFields(); });
    review.addEventListener('input', markDirty);
    comment.addEventListener('input', markDirty);

    const form = h('form', {
      class: 'status-form',
      'data-write': true,
      'aria-label': 'Change the status',
      onsubmit: async (event) => {
        event.preventDefault();
        const status = select.value;
        let reviewBy = null;
        if (REVIEWABLE.has(status) && review.value) {
          // Unchanged day: send the stored timestamp, so asking again is a no-op.
          reviewBy = original?.reviewBy && dateTimeToDay(original.reviewBy) === review.value
            ? original.reviewBy : dayToDateTime(review.value);
        }
        const payload = await run(save, box, () => mutate(SET_STATUS, {
          input: {
            tenantSlug: slug,
            controlId,
            status,
            comment: comment.value.trim() || null,
            reviewBy,
            expectedVersion: baseVersion,
          },
        }, 'setActionStatus'));
        if (!payload) {
          if (box.querySelector('[data-code="CONFLICT"]')) {
            stale.hidden = true;
            reloadButton.hidden = false;
          }
          return;
        }
        if (payload.score) onScore?.(payload.score.current);
        if (!payload.changed) {
          replace(box, h('p', { class: 'calm' }, 'Nothing changed: the action already has this status and review date.'));
          return;
        }
        comment.value = '';
        dirty = false;
        if (payload.action) {
          reset(payload.action);
          setAction(payload.action);
        }
        done(`Status set to ${STATUS_LABELS[status]}.`);
      },
    });
    const reloadButton = h('button', {
      type: 'button',
      'data-write': true,
      hidden: true,
      onclick: () => {
        reloadButton.hidden = true;
        replace(box);
        if (action) reset(action);
        load();
      },
    }, 'Load the latest version');
    replace(stale,
      h('p', {}, 'Someone changed this action while you were editing. Saving now will be refused.'),
      h('button', { type: 'button', 'data-write': true, onclick: () => reloadButton.click() }, 'Start again from the latest version'));

    replace(form,
      h('div', { class: 'field' }, h('label', { for: ids.status }, 'Status'), select, hint),
      reviewField,
      h('div', { class: 'field' }, h('label', { for: ids.comment }, 'Comment'), comment),
      h('div', { class: 'form-actions' }, save, reloadButton),
      stale,
      box);
    return {
      el: form,
      reset,
      sync(a, remote) {
        if (!dirty || baseVersion === null) reset(a);
        else if (remote && a.version !== baseVersion) stale.hidden = false;
        if (!remote) original = a;
      },
    };
  }

  function exceptionForm(locked) {
    const ids = { scope: uid('scope'), just: uid('justification'), comment: uid('exc-comment'), expires: uid('expires') };
    const scope = h('select', { id: ids.scope, 'data-write': true },
      Object.entries(SCOPES).map(([v, l]) => h('option', { value: v }, l)));
    const justification = h('select', { id: ids.just, 'data-write': true },
      Object.entries(JUSTIFICATIONS).map(([v, l]) => h('option', { value: v }, l)));
    const effect = h('p', { class: 'hint' });
    const paintEffect = () => {
      effect.textContent = scope.value === 'GLOBAL'
        ? `Sets the status to ${STATUS_LABELS[JUSTIFICATION_STATUS[justification.value]]} until the exception expires.`
        : 'Recorded for one device group; the status stays To address.';
    };
    scope.addEventListener('change', paintEffect);
    justification.addEventListener('change', paintEffect);
    paintEffect();
    const comment = h('textarea', { id: ids.comment, rows: 3, required: true, maxlength: 10000, 'data-write': true, placeholder: 'Why? (required)' });
    const expires = h('input', { id: ids.expires, type: 'date', min: isoDay(-1), 'data-write': true });
    const save = h('button', { type: 'submit', class: 'primary', 'data-write': true }, 'Record exception');
    const box = messageBox();
    const form = h('form', {
      class: 'exception-form',
      'data-write': true,
      'aria-label': 'Record an exception',
      'data-testid': 'exception-form',
      onsubmit: async (event) => {
        event.preventDefault();
        if (!comment.value.trim()) {
          replace(box, errorBox({ code: 'BAD_USER_INPUT', message: 'Say why: the comment is required.' }));
          comment.focus();
          return;
        }
        const payload = await run(save, box, () => mutate(EXCEPTION, {
          input: {
            tenantSlug: slug,
            controlId,
            scope: scope.value,
            justification: justification.value,
            comment: comment.value.trim(),
            expiresAt: dayToDateTime(expires.value),
          },
        }, 'recordDeviceException'));
        if (!payload) return;
        if (payload.score) onScore?.(payload.score.current);
        comment.value = '';
        expires.value = '';
        if (payload.action) setAction(payload.action);
        done(scope.value === 'GLOBAL' ? 'Exception recorded; the status follows it.' : 'Exception recorded for the device group.');
      },
    },
    h('h4', {}, 'Record an exception'),
    h('p', { class: 'hint' }, 'Device actions are managed in Defender for Endpoint: their status changes through exceptions, not by hand.'),
    locked ? h('p', { class: 'calm' }, 'This action is completed: while it stays complete, no exception can be recorded.') : null,
    h('fieldset', { class: 'plain', disabled: locked, 'data-write': true },
      h('legend', { class: 'visually-hidden' }, 'Exception'),
      h('div', { class: 'field' }, h('label', { for: ids.scope }, 'Scope'), scope),
      h('div', { class: 'field' }, h('label', { for: ids.just }, 'Justification'), justification, effect),
      h('div', { class: 'field' }, h('label', { for: ids.comment }, 'Comment'), comment),
      h('div', { class: 'field' }, h('label', { for: ids.expires }, 'Expires'), expires, h('p', { class: 'hint' }, 'Optional; without a date it never expires.')),
      h('div', { class: 'form-actions' }, save)),
    box);
    return { el: form, sync: () => {} };
  }

  function undoTool() {
    const box = messageBox();
    const button = h('button', {
      type: 'button',
      'data-write': true,
      onclick: async () => {
        button.disabled = true;
        replace(box);
        try {
          const payload = await mutate(UNDO, { input: { tenantSlug: slug, controlId } }, 'undoActionStatus');
          if (payload.score) onScore?.(payload.score.current);
          if (payload.action) {
            sections?.statusForm?.reset?.(payload.action);
            setAction(payload.action);
          }
          done(payload.action ? `Undone: the status is ${STATUS_LABELS[payload.action.status]} again.` : 'Undone.');
        } catch (err) {
          if (err?.code === 'NOTHING_TO_UNDO') replace(box, h('p', { class: 'calm', 'data-code': 'NOTHING_TO_UNDO' }, err.message));
          else showError(box, err);
        } finally {
          button.disabled = false;
        }
      },
    }, 'Undo last status change');
    return {
      el: h('div', { class: 'undo' },
        button,
        h('p', { class: 'hint' }, 'Undoes your own last change of the status, if nothing changed it since.'),
        box),
    };
  }

  // --- notes ---

  function noteForm() {
    const id = uid('new-note');
    const text = h('textarea', { id, rows: 3, maxlength: 10000, 'data-write': true });
    const add = h('button', { type: 'submit', 'data-write': true }, 'Add note');
    const box = messageBox();
    const el = h('form', {
      class: 'note-form',
      'data-write': true,
      onsubmit: async (event) => {
        event.preventDefault();
        if (!text.value.trim()) {
          text.focus();
          return;
        }
        const payload = await run(add, box, () => mutate(ADD_NOTE, {
          input: { tenantSlug: slug, controlId, body: text.value },
        }, 'addActionNote'));
        if (!payload) return;
        text.value = '';
        if (payload.action) setAction(payload.action);
        done('Note added.', { quiet: true });
      },
    },
    h('label', { for: id }, 'New note'),
    text,
    h('div', { class: 'form-actions' }, add),
    box);
    return { el };
  }

  function paintNotes(a) {
    if (a.notes.length === 0) {
      replace(sections.notesList, h('p', { class: 'muted' }, 'No notes yet.'));
      return;
    }
    replace(sections.notesList, h('ul', { class: 'notes' }, a.notes.map((n) => noteItem(n))));
  }

  function noteItem(n) {
    const mine = isAdmin || (viewerName && n.authorName === viewerName);
    const bodyEl = h('p', { class: 'prose note-body' }, n.body);
    const box = messageBox();
    const edited = n.updatedAt !== n.createdAt;
    const li = h('li', { class: 'note', dataset: { noteId: n.id } },
      h('div', { class: 'note-meta' },
        h('strong', {}, n.authorName ?? 'Someone no longer here'),
        h('span', { class: 'muted' }, ' · ', h('time', { datetime: n.createdAt }, fmtDateTime(n.createdAt)), edited ? ' · edited' : '')),
      bodyEl);
    if (canWrite && mine) {
      const editButton = h('button', { type: 'button', class: 'link', 'data-write': true, dataset: { focus: `edit-${n.id}` } }, 'Edit');
      const deleteButton = h('button', { type: 'button', class: 'link danger', 'data-write': true, dataset: { focus: `delete-${n.id}` } }, 'Delete');
      const tools = h('div', { class: 'note-tools' }, editButton, deleteButton);
      editButton.addEventListener('click', () => {
        const id = uid('edit-note');
        const text = h('textarea', { id, rows: 3, maxlength: 10000, 'data-write': true, value: n.body });
        const save = h('button', { type: 'submit', class: 'primary', 'data-write': true }, 'Save note');
        const cancel = h('button', { type: 'button', 'data-write': true, onclick: () => { form.replaceWith(bodyEl); tools.hidden = false; editButton.focus(); } }, 'Cancel');
        const form = h('form', {
          class: 'note-edit',
          'data-write': true,
          onsubmit: async (event) => {
            event.preventDefault();
            const payload = await run(save, box, () => mutate(UPDATE_NOTE, { input: { id: n.id, body: text.value } }, 'updateActionNote'));
            if (!payload) return;
            if (payload.action) setAction(payload.action);
            done('Note saved.', { quiet: true });
          },
        }, h('label', { for: id, class: 'visually-hidden' }, 'Edit the note'), text, h('div', { class: 'form-actions' }, save, cancel));
        bodyEl.replaceWith(form);
        tools.hidden = true;
        text.focus();
      });
      deleteButton.addEventListener('click', async () => {
        if (deleteButton.dataset.confirm !== 'yes') {
          deleteButton.dataset.confirm = 'yes';
          deleteButton.textContent = 'Delete? Click again';
          setTimeout(() => {
            if (deleteButton.isConnected) {
              deleteButton.dataset.confirm = '';
              deleteButton.textContent = 'Delete';
            }
          }, 4000);
          return;
        }
        const payload = await run(deleteButton, box, () => mutate(DELETE_NOTE, { input: { id: n.id } }, 'deleteActionNote'));
        if (!payload) return;
        if (payload.action) setAction(payload.action);
        else load();
        done('Note deleted.', { quiet: true });
      });
      li.append(tools, box);
    }
    return li;
  }

  // --- tags ---

  function paintTags(a) {
    const box = messageBox();
    const change = async (mutation, field, tagIds, message) => {
      const payload = await mutate(mutation, { input: { tenantSlug: slug, controlIds: [controlId], tagIds } }, field);
      const next = payload.actions?.find((x) => x.controlId === controlId);
      if (next) setAction(next);
      done(payload.changed ? message : 'Nothing changed.', { quiet: true });
    };
    const chips = a.tags.length
      ? h('ul', { class: 'tag-list', 'aria-label': 'Tags on this action' }, a.tags.map((t) => {
        const swatch = h('span', { class: 'tag-swatch', 'aria-hidden': 'true' });
        swatch.style.backgroundColor = t.color;
        const remove = canWrite
          ? h('button', {
            type: 'button',
            class: 'chip-remove',
            'data-write': true,
            'aria-label': `Remove tag ${t.name}`,
            title: `Remove tag ${t.name}`,
            onclick: async () => {
              remove.disabled = true;
              try {
                await change(REMOVE_TAGS, 'removeActionTags', [t.id], `Tag ${t.name} removed.`);
                panel.querySelector('[data-focus="add-tag"]')?.focus();
              } catch (err) {
                showError(box, err);
                remove.disabled = false;
              }
            },
          }, '×')
          : null;
        return h('li', { class: 'tag-chip', dataset: { tag: t.name } }, swatch, h('span', { class: 'tag-name' }, t.name), remove);
      }))
      : h('p', { class: 'muted' }, 'No tags.');
    let adder = null;
    if (canWrite) {
      const free = tenantTags.filter((t) => !a.tags.some((x) => x.id === t.id));
      const id = uid('add-tag');
      if (tenantTags.length === 0) adder = h('p', { class: 'hint' }, 'This tenant has no tags yet.');
      else if (free.length === 0) adder = h('p', { class: 'hint' }, 'Every tag of the tenant is on this action.');
      else {
        const select = h('select', { id, 'data-write': true, dataset: { focus: 'add-tag' } },
          h('option', { value: '' }, 'Choose a tag…'),
          free.map((t) => h('option', { value: t.id }, t.name)));
        const add = h('button', { type: 'submit', 'data-write': true }, 'Add');
        adder = h('form', {
          class: 'tag-add',
          'data-write': true,
          onsubmit: async (event) => {
            event.preventDefault();
            const tag = free.find((t) => t.id === select.value);
            if (!tag) {
              select.focus();
              return;
            }
            await run(add, box, () => change(ADD_TAGS, 'addActionTags', [tag.id], `Tag ${tag.name} added.`));
          },
        }, h('label', { for: id }, 'Add tag'), select, add);
      }
    }
    replace(sections.tagsBox, chips, adder, box);
  }

  // --- share ---

  function shareTools() {
    const result = h('div', { class: 'share-result', 'data-testid': 'share-result', 'aria-live': 'polite' });
    const box = messageBox();
    const copy = async (text, input) => {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch {
        input?.focus();
        input?.select();
        return false;
      }
    };
    const readOnly = (label, value, multi = false) => {
      const id = uid('share-field');
      const input = multi
        ? h('textarea', { id, readonly: true, rows: 4, class: 'readonly', value })
        : h('input', { id, type: 'text', readonly: true, class: 'readonly', value });
      input.addEventListener('focus', () => input.select());
      const button = h('button', {
        type: 'button',
        'data-write': true,
        onclick: async () => {
          const ok = await copy(value, input);
          announce(ok ? `${label} copied.` : 'Select the text and copy it (Ctrl+C).');
          button.textContent = ok ? 'Copied' : 'Copy';
        },
      }, 'Copy');
      return h('div', { class: 'field' }, h('label', { for: id }, label), h('div', { class: 'copy-row' }, input, button));
    };
    const create = async (platform, button) => {
      const payload = await run(button, box, () => mutate(SHARE, { input: { tenantSlug: slug, controlId, platform } }, 'createShareLink'));
      if (!payload) return;
      const expires = payload.shareLink?.expiresAt ? ` It works until ${fmtDate(payload.shareLink.expiresAt)}.` : '';
      const once = h('p', { class: 'hint' }, `Shown only now: the link carries its secret.${expires}`);
      if (platform === 'LINK') {
        const field = readOnly('Share link', payload.url);
        replace(result, field, once);
        const input = field.querySelector('input');
        const ok = await copy(payload.url, input);
        if (ok) result.prepend(h('p', { class: 'calm' }, 'Link copied to the clipboard.'));
        else result.prepend(h('p', { class: 'calm' }, 'Copy the selected link below (Ctrl+C).'));
        if (!ok) {
          input.focus();
          input.select();
        }
        done(ok ? 'Share link created and copied.' : 'Share link created.');
      } else if (platform === 'EMAIL' || platform === 'TEAMS') {
        const target = platform === 'EMAIL' ? payload.mailtoUrl : payload.teamsUrl;
        const label = platform === 'EMAIL' ? 'Open the email' : 'Open in Teams';
        replace(result,
          h('p', {}, h('a', { href: target, target: '_blank', rel: 'noopener', class: 'button-link' }, label)),
          readOnly('Share link', payload.url), once);
        if (target) window.open(target, '_blank', 'noopener');
        done(platform === 'EMAIL' ? 'Share link created; the email opens in a new tab.' : 'Share link created; Teams opens in a new tab.');
      } else {
        const task = payload.plannerTask ?? { title: '', description: '' };
        replace(result,
          h('p', { class: 'calm' }, 'Create a Planner task with this title and description:'),
          readOnly('Task title', task.title),
          readOnly('Task description', task.description, true),
          once);
        done('Share link created for a Planner task.');
      }
      load();
    };
    const buttons = Object.entries({ LINK: 'Copy link', EMAIL: 'Email', TEAMS: 'Teams', PLANNER: 'Planner' }).map(([platform, label]) => {
      const button = h('button', { type: 'button', 'data-write': true, dataset: { platform } }, label);
      button.addEventListener('click', () => create(platform, button));
      return button;
    });
    return {
      el: h('div', { class: 'share-tools' },
        h('p', { class: 'hint' }, 'A share link lets people without a token read this action (title, status, points, remediation) for 30 days.'),
        h('div', { class: 'button-row', role: 'group', 'aria-label': 'Share this action' }, buttons),
        box,
        result),
    };
  }

  function paintShareLinks(a) {
    const box = messageBox();
    const now = Date.now();
    if (a.shareLinks.length === 0) {
      replace(sections.shareList, h('p', { class: 'muted' }, 'No share links.'));
      return;
    }
    const state = (l) => {
      if (l.revoked) return h('span', { class: 'badge' }, 'Revoked');
      if (new Date(l.expiresAt).getTime() <= now) return h('span', { class: 'badge' }, 'Expired');
      return h('span', { class: 'badge active' }, 'Active');
    };
    replace(sections.shareList,
      h('h4', {}, 'Share links'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'share-table' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Platform'),
          h('th', { scope: 'col' }, 'Created'),
          h('th', { scope: 'col' }, 'Expires'),
          h('th', { scope: 'col', class: 'num' }, 'Uses'),
          h('th', { scope: 'col' }, 'State'),
          canWrite ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Revoke')) : null)),
        h('tbody', {}, a.shareLinks.map((l) => {
          const active = !l.revoked && new Date(l.expiresAt).getTime() > now;
          const revoke = canWrite && active
            ? h('button', {
              type: 'button',
              class: 'link danger',
              'data-write': true,
              dataset: { focus: `revoke-${l.id}` },
              'aria-label': `Revoke the ${PLATFORMS[l.platform] ?? l.platform} link of ${fmtDate(l.createdAt)}`,
              onclick: async () => {
                const payload = await run(revoke, box, () => mutate(REVOKE, { input: { id: l.id } }, 'revokeShareLink'));
                if (!payload) return;
                done('Share link revoked.', { quiet: true });
                load();
              },
            }, 'Revoke')
            : null;
          return h('tr', { dataset: { shareLinkId: l.id } },
            h('td', {}, PLATFORMS[l.platform] ?? humanize(l.platform)),
            h('td', {}, fmtDate(l.createdAt), l.createdBy ? h('span', { class: 'muted block small' }, l.createdBy) : null),
            h('td', {}, l.revoked ? h('span', { class: 'muted' }, `revoked ${fmtDate(l.revokedAt)}`) : fmtDate(l.expiresAt)),
            h('td', { class: 'num' }, String(l.useCount)),
            h('td', {}, state(l)),
            canWrite ? h('td', {}, revoke) : null);
        })))),
      box);
  }

  // --- history ---

  function paintHistory(a) {
    const events = a.history.nodes;
    if (events.length === 0) {
      replace(sections.historyBox, h('p', { class: 'muted' }, 'No changes recorded.'));
      return;
    }
    const more = a.history.totalCount > events.length
      ? h('p', { class: 'hint' }, `The last ${events.length} of ${a.history.totalCount} changes. `,
        h('a', { href: `/tenants/${encodeURIComponent(slug)}/history?control=${encodeURIComponent(a.controlId)}&from=2000-01-01` }, 'All in History'))
      : null;
    replace(sections.historyBox,
      h('ol', { class: 'timeline' }, events.map((e) => {
        const change = statusChange(e);
        const pointsMoved = e.pointsBefore !== null && e.pointsAfter !== null && e.pointsBefore !== e.pointsAfter;
        return h('li', { class: 'event', dataset: { kind: e.kind, eventId: e.id } },
          h('div', { class: 'event-line' },
            h('strong', {}, EVENT_LABELS[e.kind] ?? humanize(e.kind)),
            change,
            pointsMoved
              ? h('span', { class: 'event-points' }, `${fmtPoints(e.pointsBefore)} → ${fmtPoints(e.pointsAfter)} `, deltaBadge(e.pointsDelta))
              : null),
          h('div', { class: 'event-meta muted' }, e.actor, ' · ', h('time', { datetime: e.occurredAt }, fmtDateTime(e.occurredAt))),
          e.comment ? h('p', { class: 'prose event-comment' }, e.comment) : null);
      })),
      more);
  }

  return {
    open,
    close,
    onEvent,
    setOpener(el) {
      opener = el;
    },
    get controlId() {
      return isOpen() ? controlId : null;
    },
    destroy() {
      seq += 1;
      controller?.abort();
      clearTimeout(refreshTimer);
      document.removeEventListener('focusin', keepFocusIn);
      if (inert) inert.inert = false;
      panel.remove();
      backdrop.remove();
    },
  };
}
