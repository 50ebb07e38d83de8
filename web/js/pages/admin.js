// Administration (/api/admin/*, the `admin` role only), in two views of one route:
//  - #/admin?q=&page=  every account in a table (email, roles, plan, status, created), searched
//    by email and paged by the server, with the audit log of every account below it;
//  - #/admin?user=<id> one account: its roles, its plan (picked from GET /api/admin/plans),
//    disable or enable it, end all of its sessions. The destructive two ask first, in a dialog.
// The list view also holds the apps (OAuth clients, clients.js) between the accounts and the log.
// The server enforces the role on every call (403 insufficient_scope); the shell shows
// non-administrators adminOnlyPage instead, so they never even ask. Searching and paging keep
// their place in the address (history.pushState), so Back and a reload return to it.

import { confirmAction } from '../dialog.js';
import { clientsSection } from './clients.js';
import { field, h } from '../dom.js';
import { describeEvent, eventFeed, eventTime } from '../events.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

const PER_PAGE = 25;
const AUDIT_PAGE = 20;
const ROLE_NAME = /^[a-z][a-z0-9_-]{0,31}$/; // the server's rule (domain/admin.rs), checked first for a quicker answer

// user id -> email of every account this tab has shown, so the audit log can name them. Kept in
// memory for the tab's life; it holds nothing the administrator could not see on the page.
const emails = new Map();

/** What a signed-in user without the `admin` role sees at #/admin: no data is fetched. */
export function adminOnlyPage() {
  const node = h(
    'section',
    { class: 'card card--narrow', id: 'admin-only' },
    h('h1', { id: 'page-title' }, 'Administrators only'),
    h('p', { class: 'lead' }, 'This page is for administrators of this server, and your account is not one. Ask an administrator if you need access.'),
  );
  return { node };
}

/** What a refused admin call means, in plain words. */
function explain(error) {
  return error.code === 'not_found' ? 'This user no longer exists. Search again.' : describeError(error);
}

/** The query of the page's own address (#/admin?...). */
function hashQuery() {
  const hash = window.location.hash || '';
  const at = hash.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : hash.slice(at + 1));
}

function listHash(q, page) {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  if (page > 1) params.set('page', String(page));
  const query = params.toString();
  return `#/admin${query ? `?${query}` : ''}`;
}

function userHash(id, q, page) {
  const params = new URLSearchParams({ user: id });
  if (q) params.set('q', q);
  if (page > 1) params.set('page', String(page));
  return `#/admin?${params}`;
}

function createdOn(seconds) {
  const ms = Number(seconds) * 1000;
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : 'unknown';
}

function statusBadge(user) {
  return h('span', { class: `badge ${user.disabled ? 'badge--off' : 'badge--on'}` }, user.disabled ? 'Disabled' : 'Active');
}

function rolesText(roles) {
  return roles.length ? roles.join(', ') : 'none';
}

export function adminPage() {
  const query = hashQuery();
  return query.get('user') ? userView(query) : listView(query);
}

// --- every account ------------------------------------------------------------------------------

function listView(initial) {
  const state = { q: (initial.get('q') || '').trim(), page: Math.max(1, Number.parseInt(initial.get('page') || '1', 10) || 1), pages: 1 };

  const search = field({ id: 'admin-search', label: 'Search by email', type: 'search', autocomplete: 'off', required: false, value: state.q });
  const clear = h('button', { type: 'button', class: 'button button--quiet', id: 'admin-search-clear', onclick: onClear }, 'Show everyone');
  const searchForm = h(
    'form',
    { class: 'inline-form', role: 'search', 'aria-label': 'Users', onsubmit: onSearch },
    search.wrapper,
    h('button', { type: 'submit', class: 'button button--primary' }, 'Search'),
    clear,
  );
  const status = h('p', { class: 'muted', role: 'status', id: 'admin-status' });
  const rows = h('tbody', {});
  const table = h(
    'table',
    { class: 'table', id: 'admin-users' },
    h('caption', { class: 'visually-hidden' }, 'Users'),
    h(
      'thead',
      {},
      h('tr', {}, ...['Email', 'Roles', 'Plan', 'Status', 'Created'].map((label) => h('th', { scope: 'col' }, label))),
    ),
    rows,
  );
  // On a phone only the arrows show; the accessible name is always the whole one.
  const pageButton = (arrow, word, name, to, after = false) =>
    h(
      'button',
      { type: 'button', class: 'button button--quiet pager__button', 'aria-label': name, onclick: () => go(to()) },
      after ? [h('span', { class: 'pager__word' }, `${word} `), arrow] : [arrow, h('span', { class: 'pager__word' }, ` ${word}`)],
    );
  const first = pageButton('«', 'First', 'First page', () => 1);
  const previous = pageButton('‹', 'Previous', 'Previous page', () => state.page - 1);
  const next = pageButton('›', 'Next', 'Next page', () => state.page + 1, true);
  const last = pageButton('»', 'Last', 'Last page', () => state.pages, true);
  const where = h('span', { class: 'pager__where', id: 'admin-page' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of users', hidden: true }, first, previous, where, next, last);

  function row(user) {
    emails.set(user.id, user.email);
    return h(
      'tr',
      { 'data-user': user.id, 'data-disabled': user.disabled ? 'true' : null },
      h('td', { 'data-label': 'Email', class: 'table__email' }, h('a', { href: userHash(user.id, state.q, state.page) }, user.email)),
      h('td', { 'data-label': 'Roles', class: user.roles.length ? null : 'muted' }, rolesText(user.roles)),
      h('td', { 'data-label': 'Plan' }, user.plan),
      h('td', { 'data-label': 'Status', class: 'table__status' }, statusBadge(user)),
      h('td', { 'data-label': 'Created' }, h('time', { datetime: new Date(user.created_at * 1000).toISOString() }, createdOn(user.created_at))),
    );
  }

  async function load() {
    status.textContent = 'Loading users…';
    table.setAttribute('aria-busy', 'true');
    try {
      const params = new URLSearchParams({ q: state.q, page: String(state.page), per_page: String(PER_PAGE) });
      const { data } = await session.call('GET', `/api/admin/users?${params}`);
      state.pages = Math.max(1, Math.ceil(data.total / data.per_page));
      if (data.page > state.pages && data.total > 0) return go(state.pages, { replace: true });
      state.page = data.page;
      rows.replaceChildren(...data.users.map(row));
      const from = data.total ? (data.page - 1) * data.per_page + 1 : 0;
      const to = (data.page - 1) * data.per_page + data.users.length;
      const matching = state.q ? ` matching “${state.q}”` : '';
      status.textContent = data.total
        ? `${data.total} user${data.total === 1 ? '' : 's'}${matching}; showing ${from}–${to}.`
        : `No users${matching}.`;
      table.hidden = data.total === 0;
      where.textContent = `Page ${data.page} of ${state.pages}`;
      first.disabled = previous.disabled = data.page <= 1;
      next.disabled = last.disabled = data.page >= state.pages;
      pager.hidden = state.pages <= 1;
      clear.hidden = !state.q;
    } catch (error) {
      status.textContent = `Could not load the users. ${explain(error)}`;
    }
    table.removeAttribute('aria-busy');
  }

  /** Shows page `page` of the current search, and records it in the address for Back. */
  function go(page, { replace = false } = {}) {
    state.page = Math.min(Math.max(1, page), state.pages || 1);
    const target = listHash(state.q, state.page);
    if (window.location.hash !== target) window.history[replace ? 'replaceState' : 'pushState'](null, '', target);
    return load();
  }

  function onSearch(event) {
    event.preventDefault();
    state.q = search.input.value.trim();
    state.pages = 1;
    go(1);
  }

  function onClear() {
    search.input.value = '';
    state.q = '';
    state.pages = 1;
    go(1);
    search.input.focus();
  }

  // --- the apps (OAuth clients) ------------------------------------------------------------------

  const clients = clientsSection({ onChange: () => audit.reload() });

  // --- the audit log ----------------------------------------------------------------------------

  const audit = (() => {
    const list = h('ul', { class: 'stack', id: 'audit-list', 'aria-labelledby': 'audit-title' });
    const note = h('p', { class: 'muted', role: 'status', id: 'audit-status' });
    const more = h('button', { type: 'button', class: 'button button--quiet', hidden: true }, 'Show older entries');
    const me = session.user();
    if (me?.id && me.email) emails.set(me.id, me.email);
    // Accounts seen in this tab are named by email; others by the start of their id (looking
    // each one up would spend the administrator's own rate limit).
    const who = (id) => (id ? emails.get(id) || `user ${id.slice(0, 8)}…` : 'someone not signed in');

    // What an entry is about: an app (client_added, client_removed) or a signing key
    // (key_rotated, key_revoked) by its id, otherwise an account.
    const subject = (entry) => {
      if (entry.event.startsWith('client_')) return `app ${entry.subject_id}`;
      if (entry.event.startsWith('key_')) return `key ${entry.subject_id}`;
      return `account ${who(entry.subject_id)}`;
    };

    function entryRow(entry) {
      const words = describeEvent(entry);
      const own = entry.actor_id && entry.actor_id === entry.subject_id; // a sign-in, a registration...
      const facts = [
        eventTime(entry.at),
        entry.subject_id ? subject(entry) : null,
        own ? 'by its owner' : `by ${who(entry.actor_id)}`,
        `IP ${entry.ip || 'unknown'}`,
      ];
      return h(
        'li',
        { class: `event${words.tone === 'warning' ? ' event--warning' : ''}`, 'data-event': entry.event, 'data-outcome': entry.outcome },
        h('p', { class: 'notice__title' }, words.title),
        h('p', { class: 'muted' }, facts.filter(Boolean).join(' · ')),
        entry.detail ? h('p', { class: 'muted' }, `Recorded: ${entry.detail}`) : null,
      );
    }

    const feed = eventFeed({
      path: '/api/admin/audit',
      pageSize: AUDIT_PAGE,
      list,
      note,
      more,
      row: entryRow,
      status: (shown) => (shown ? `${shown} entries shown, newest first.` : 'The log is empty.'),
      failed: (error) => `Could not load the audit log. ${explain(error)}`,
    });
    const node = h('section', { class: 'card', 'aria-labelledby': 'audit-title' }, h('h2', { id: 'audit-title' }, 'Audit log'), note, list, more);
    return { node, reload: feed.reload };
  })();

  // Users first, so the log can name them by email.
  load().then(() => audit.reload());
  const node = h(
    'div',
    { class: 'stack stack--wide' },
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'page-title' },
      h('h1', { id: 'page-title' }, 'Administration'),
      h('p', { class: 'lead' }, 'Every account on this server, oldest first. Open one to change its roles or plan, disable it or end its sessions; every change is written to the audit log below.'),
      searchForm,
      status,
      h('div', { class: 'table-wrap' }, table),
      pager,
    ),
    clients.node,
    audit.node,
  );
  return { node };
}

// --- one account --------------------------------------------------------------------------------

function userView(query) {
  const id = query.get('user');
  const back = listHash((query.get('q') || '').trim(), Math.max(1, Number.parseInt(query.get('page') || '1', 10) || 1));
  const me = session.user()?.id;
  let user = null;
  let plans = null; // GET /api/admin/plans

  const heading = h('h1', { id: 'page-title', class: 'admin-user__email' }, 'Loading…');
  const facts = h('dl', { class: 'facts', id: 'admin-user-facts' });
  const status = h('p', { class: 'muted', role: 'status', id: 'admin-user-status' });
  // Each section says how its own action went, next to the control that was pressed.
  const note = (name) => h('div', { class: 'notice', role: 'status', id: `admin-${name}-note`, hidden: true });
  const rolesNote = note('roles');
  const planStatus = note('plan');
  const accessNote = note('access');

  function say(where, text, tone = 'info') {
    where.className = `notice${tone === 'error' ? ' notice--error' : ''}`;
    where.textContent = text;
    where.hidden = !text;
  }

  // Roles: a checkbox per role the account has (and always "admin"), plus a field to add one.
  const roleBoxes = h('div', { class: 'checks', id: 'admin-roles' });
  const newRole = field({ id: 'admin-new-role', label: 'Add a role', autocomplete: 'off', required: false, hint: 'A lower-case name, such as support or billing.' });
  const addRole = h('button', { type: 'button', class: 'button button--quiet', onclick: onAddRole }, 'Add');
  const saveRoles = h('button', { type: 'submit', class: 'button button--primary' }, 'Save roles');
  const rolesForm = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'roles-title', onsubmit: onRoles },
    h('fieldset', { class: 'checks-field' }, h('legend', { class: 'visually-hidden' }, 'Roles of this account'), roleBoxes),
    h('div', { class: 'inline-form' }, newRole.wrapper, addRole),
    h('div', { class: 'actions' }, saveRoles),
  );

  // Plan: the server's plans, each with its limit.
  const planSelect = h('select', { id: 'admin-plan', name: 'plan', 'aria-describedby': 'admin-plan-hint' });
  const planNote = h('p', { class: 'field__hint', id: 'admin-plan-hint' });
  const savePlan = h('button', { type: 'submit', class: 'button button--primary' }, 'Save plan');
  const planForm = h(
    'form',
    { class: 'inline-form', novalidate: true, 'aria-labelledby': 'plan-title', onsubmit: onPlan },
    h('div', { class: 'field' }, h('label', { for: 'admin-plan', class: 'visually-hidden' }, 'Plan'), planNote, planSelect),
    savePlan,
  );

  const toggle = h('button', { type: 'button', class: 'button', id: 'admin-toggle', onclick: onToggle });
  const toggleText = h('p', { class: 'muted', id: 'admin-toggle-text' });
  const endAll = h('button', { type: 'button', class: 'button button--danger', id: 'admin-end-sessions', onclick: onEndSessions }, 'End all sessions');

  function roleBox(role, checked) {
    const boxId = `admin-role-${role}`;
    return h(
      'label',
      { class: 'check', for: boxId },
      h('input', { type: 'checkbox', id: boxId, value: role, checked }),
      ' ',
      role === 'admin' ? 'admin (administrator: this page, every account)' : role,
    );
  }

  function showRoles() {
    const names = [...new Set(['admin', ...user.roles])].sort();
    roleBoxes.replaceChildren(...names.map((role) => roleBox(role, user.roles.includes(role))));
  }

  function showPlans() {
    if (!plans) return;
    const names = plans.plans.map((p) => p.name);
    const options = plans.plans.map((p) =>
      h('option', { value: p.name }, `${p.name}: ${p.requests_per_minute} requests a minute${p.name === plans.default ? ' (the default)' : ''}`),
    );
    // A plan the server no longer lists stays visible as it is, rather than silently changing.
    if (user && !names.includes(user.plan)) options.unshift(h('option', { value: user.plan }, `${user.plan} (not configured any more)`));
    planSelect.replaceChildren(...options);
    if (user) planSelect.value = user.plan;
    planNote.textContent = plans.enforced
      ? 'It takes effect at the account’s next token refresh, within minutes.'
      : 'Rate limits are off on this server: the plan is written into tokens, but nothing is limited.';
  }

  function show(current) {
    user = current;
    emails.set(user.id, user.email);
    heading.textContent = user.email;
    document.title = `${user.email} · Administration · jwtgate`;
    const fact = (term, ...value) => [h('dt', {}, term), h('dd', {}, ...value)];
    facts.replaceChildren(
      ...fact('Status', statusBadge(user)),
      ...fact('Roles', rolesText(user.roles)),
      ...fact('Plan', user.plan),
      ...fact('Created', eventTime(user.created_at)),
      ...fact('User id', h('code', {}, user.id)),
    );
    showRoles();
    showPlans();
    toggle.textContent = user.disabled ? 'Enable account' : 'Disable account';
    toggle.className = `button ${user.disabled ? 'button--primary' : 'button--danger'}`;
    toggleText.textContent = user.disabled
      ? 'This account is disabled: it cannot sign in. Enabling it lets its owner sign in again with their password.'
      : 'Disabling signs the account out everywhere at once and refuses its sign-ins until it is enabled again.';
  }

  /** One admin call with `control` disabled; says how it went in `where`. */
  async function act(where, control, send, done, fieldHandle = null) {
    control.disabled = true;
    fieldHandle?.setError('');
    for (const other of [rolesNote, planStatus, accessNote]) say(other, '');
    say(where, 'Saving…');
    try {
      const { data } = await send();
      if (data?.user) show(data.user);
      say(where, done(data));
    } catch (error) {
      say(where, '');
      if (fieldHandle && error.code === 'invalid_field') fieldHandle.setError(explain(error));
      else say(where, explain(error), 'error');
    }
    control.disabled = false;
  }

  function path(suffix) {
    return `/api/admin/users/${encodeURIComponent(user.id)}/${suffix}`;
  }

  function onAddRole() {
    newRole.setError('');
    const role = newRole.input.value.trim();
    if (!ROLE_NAME.test(role)) {
      newRole.setError('Start with a lower-case letter, then use up to 31 of a to z, 0 to 9, _ or -.');
      newRole.input.focus();
      return;
    }
    const existing = roleBoxes.querySelector(`input[value="${role}"]`);
    if (existing) existing.checked = true;
    else roleBoxes.append(roleBox(role, true));
    newRole.input.value = '';
    newRole.input.focus();
  }

  function onRoles(event) {
    event.preventDefault();
    if (newRole.input.value.trim()) onAddRole();
    const roles = [...roleBoxes.querySelectorAll('input:checked')].map((box) => box.value);
    act(rolesNote, saveRoles, () => session.call('PUT', path('roles'), { roles }), () => `Roles saved: ${rolesText(roles.sort())}.`, newRole);
  }

  function onPlan(event) {
    event.preventDefault();
    const plan = planSelect.value;
    act(planStatus, savePlan, () => session.call('PUT', path('plan'), { plan }), () => `Plan saved: ${plan}. It applies from the account’s next token refresh.`);
  }

  async function onToggle() {
    if (user.disabled) {
      act(accessNote, toggle, () => session.call('POST', path('enable')), () => `${user.email} can sign in again.`);
      return;
    }
    const yes = await confirmAction({
      title: `Disable ${user.email}?`,
      text: [
        h('p', {}, 'Every session of this account ends at once, and it cannot sign in until an administrator enables it again.'),
        h('p', {}, 'Its todos and history are kept.'),
      ],
      confirm: 'Disable account',
    });
    if (!yes) return;
    act(accessNote, toggle, () => session.call('POST', path('disable')), () => `${user.email} is disabled: their sessions ended and they cannot sign in.`);
  }

  async function onEndSessions() {
    const yes = await confirmAction({
      title: `End every session of ${user.email}?`,
      text: 'Every browser and app signed in to this account is signed out at once. Its owner can sign in again with their password.',
      confirm: 'End all sessions',
    });
    if (!yes) return;
    act(accessNote, endAll, () => session.call('DELETE', path('sessions')), (data) => {
      const n = Number(data?.ended_sessions) || 0;
      return n ? `Ended ${n} session${n === 1 ? '' : 's'} of ${user.email}.` : `${user.email} had no session to end.`;
    });
  }

  const sections = h(
    'div',
    { class: 'stack', hidden: true },
    h('section', { class: 'card', 'aria-labelledby': 'roles-title' }, h('h2', { id: 'roles-title' }, 'Roles'), rolesForm, rolesNote),
    h('section', { class: 'card', 'aria-labelledby': 'plan-title' }, h('h2', { id: 'plan-title' }, 'Plan'), planForm, planStatus),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'access-title' },
      h('h2', { id: 'access-title' }, 'Access'),
      h('div', { class: 'danger-row' }, toggleText, toggle),
      h(
        'div',
        { class: 'danger-row' },
        h('p', { class: 'muted' }, 'Ending all sessions signs the account out everywhere; it can sign in again at once.'),
        endAll,
      ),
      accessNote,
    ),
  );

  async function load() {
    status.textContent = 'Loading…';
    try {
      const [{ data: one }, { data: configured }] = await Promise.all([
        session.call('GET', `/api/admin/users/${encodeURIComponent(id)}`),
        session.call('GET', '/api/admin/plans'),
      ]);
      plans = configured;
      show(one.user);
      status.textContent = user.id === me ? 'This is your own account: you cannot disable it or remove its admin role.' : '';
      sections.hidden = false;
    } catch (error) {
      heading.textContent = 'User not found';
      status.textContent = explain(error);
    }
  }

  load();
  const node = h(
    'div',
    { class: 'stack' },
    h('p', { class: 'back' }, h('a', { href: back, id: 'admin-back' }, '‹ All users')),
    h('section', { class: 'card', 'aria-labelledby': 'page-title' }, heading, facts, status),
    sections,
  );
  return { node };
}
