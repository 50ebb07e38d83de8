// Administration (/api/admin/*, the `admin` role only): find users by email, page through them,
// change a user's roles and plan, disable or enable the account, end all of its sessions, and read
// the audit log of every account (GET /api/admin/audit). The server enforces the role on every
// call (403 insufficient_scope); the shell shows non-administrators adminOnlyPage instead, so
// they never even ask.

import { field, h } from '../dom.js';
import { describeEvent, eventFeed, eventTime } from '../events.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

const PER_PAGE = 10;
const AUDIT_PAGE = 20;

/** What a refused admin call means, in plain words. */
function explain(error) {
  return error.code === 'not_found' ? 'This user no longer exists. Search again.' : describeError(error);
}

/** A field label with the user's email for screen readers, which hear every card's "Roles". */
function labelFor(text, email) {
  return [text, h('span', { class: 'visually-hidden' }, ` for ${email}`)];
}

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

export function adminPage() {
  const emails = new Map(); // user id -> email, to name the people in the audit log
  const query = { q: '', page: 1, total: 0 };

  // --- users ------------------------------------------------------------------------------------

  const search = field({ id: 'admin-search', label: 'Search by email', type: 'search', autocomplete: 'off', required: false });
  const searchForm = h(
    'form',
    { class: 'inline-form', role: 'search', 'aria-label': 'Users', onsubmit: onSearch },
    search.wrapper,
    h('button', { type: 'submit', class: 'button button--primary' }, 'Search'),
  );
  const status = h('p', { class: 'muted', role: 'status', id: 'admin-status' });
  const users = h('ul', { class: 'stack', id: 'admin-users', 'aria-label': 'Users' });
  const previous = h('button', { type: 'button', class: 'button button--quiet', onclick: () => loadUsers(query.page - 1) }, 'Previous page');
  const next = h('button', { type: 'button', class: 'button button--quiet', onclick: () => loadUsers(query.page + 1) }, 'Next page');
  const pager = h('nav', { class: 'actions', 'aria-label': 'Pages of users', hidden: true }, previous, next);

  function userCard(user) {
    const roles = field({ id: `user-${user.id}-roles`, label: labelFor('Roles', user.email), hint: 'Separated by commas, e.g. admin, support.', autocomplete: 'off', required: false });
    const plan = field({ id: `user-${user.id}-plan`, label: labelFor('Plan', user.email), autocomplete: 'off' });
    const summary = h('p', { class: 'muted', 'data-summary': '' });
    const note = h('p', { class: 'muted', role: 'status' });
    const toggle = h('button', { type: 'button', class: 'button button--quiet', onclick: onToggle });
    const end = h('button', { type: 'button', class: 'button button--quiet', 'aria-label': `End all sessions of ${user.email}`, onclick: onEnd }, 'End all sessions');
    const card = h(
      'li',
      { class: 'card', 'data-user': user.id },
      h('h2', {}, user.email),
      summary,
      h('form', { class: 'inline-form', 'aria-label': `Roles of ${user.email}`, novalidate: true, onsubmit: onRoles }, roles.wrapper,
        h('button', { type: 'submit', class: 'button button--quiet', 'aria-label': `Save roles for ${user.email}` }, 'Save roles')),
      h('form', { class: 'inline-form', 'aria-label': `Plan of ${user.email}`, novalidate: true, onsubmit: onPlan }, plan.wrapper,
        h('button', { type: 'submit', class: 'button button--quiet', 'aria-label': `Save plan for ${user.email}` }, 'Save plan')),
      h('div', { class: 'actions' }, toggle, end),
      note,
    );

    function show(current) {
      user = current;
      emails.set(user.id, user.email);
      const created = eventTime(user.created_at);
      summary.textContent = `Roles: ${user.roles.join(', ') || 'none'} · Plan: ${user.plan} · ${user.disabled ? 'Disabled' : 'Active'} · created ${created}`;
      card.toggleAttribute('data-disabled', user.disabled);
      roles.input.value = user.roles.join(', ');
      plan.input.value = user.plan;
      toggle.textContent = user.disabled ? 'Enable account' : 'Disable account';
      toggle.setAttribute('aria-label', `${user.disabled ? 'Enable' : 'Disable'} the account of ${user.email}`);
    }

    /** Runs one admin call with `control` disabled, then says how it went in the card. */
    async function act(control, fieldHandle, send, done) {
      control.disabled = true;
      fieldHandle?.setError('');
      note.textContent = 'Saving…';
      try {
        const { data } = await send();
        if (data?.user) show(data.user);
        note.textContent = done(data);
      } catch (error) {
        note.textContent = '';
        if (fieldHandle && error.code === 'invalid_field') fieldHandle.setError(describeError(error));
        else note.textContent = explain(error);
      }
      control.disabled = false;
      audit.reload(); // refused actions are logged too
    }

    function path(suffix) {
      return `/api/admin/users/${encodeURIComponent(user.id)}/${suffix}`;
    }

    function onRoles(event) {
      event.preventDefault();
      const list = roles.input.value.split(',').map((r) => r.trim()).filter(Boolean);
      act(event.submitter, roles, () => session.call('PUT', path('roles'), { roles: list }), () => `Roles saved for ${user.email}.`);
    }

    function onPlan(event) {
      event.preventDefault();
      act(event.submitter, plan, () => session.call('PUT', path('plan'), { plan: plan.input.value.trim() }), () => `Plan saved for ${user.email}.`);
    }

    function onToggle() {
      const enable = user.disabled;
      act(toggle, null, () => session.call('POST', path(enable ? 'enable' : 'disable')), () =>
        enable ? `${user.email} can sign in again.` : `${user.email} is disabled: their sessions ended and they cannot sign in.`,
      );
    }

    function onEnd() {
      act(end, null, () => session.call('DELETE', path('sessions')), (data) => {
        const n = Number(data?.ended_sessions) || 0;
        return `Ended ${n} session${n === 1 ? '' : 's'} of ${user.email}.`;
      });
    }

    show(user);
    return card;
  }

  async function loadUsers(page = 1) {
    status.textContent = 'Loading users…';
    try {
      const params = new URLSearchParams({ q: query.q, page: String(page), per_page: String(PER_PAGE) });
      const { data } = await session.call('GET', `/api/admin/users?${params}`);
      query.page = data.page;
      query.total = data.total;
      users.replaceChildren(...data.users.map(userCard));
      const pages = Math.max(1, Math.ceil(data.total / data.per_page));
      previous.disabled = data.page <= 1;
      next.disabled = data.page >= pages;
      pager.hidden = pages <= 1;
      const found = `${data.total} user${data.total === 1 ? '' : 's'}${query.q ? ` matching “${query.q}”` : ''}`;
      status.textContent = pages > 1 ? `${found} · page ${data.page} of ${pages}.` : `${found}.`;
    } catch (error) {
      status.textContent = `Could not load the users: ${explain(error)}`;
    }
  }

  function onSearch(event) {
    event.preventDefault();
    query.q = search.input.value.trim();
    loadUsers(1);
  }

  // --- the audit log ----------------------------------------------------------------------------

  const audit = (() => {
    const list = h('ul', { class: 'stack', id: 'audit-list', 'aria-labelledby': 'audit-title' });
    const note = h('p', { class: 'muted', role: 'status', id: 'audit-status' });
    const more = h('button', { type: 'button', class: 'button button--quiet', hidden: true }, 'Show older entries');
    const who = (id) => (id ? emails.get(id) || id : 'someone not signed in');

    function row(entry) {
      const words = describeEvent(entry);
      const facts = [eventTime(entry.at), `by ${who(entry.actor_id)}`, entry.subject_id ? `account ${who(entry.subject_id)}` : null, `IP ${entry.ip || 'unknown'}`];
      return h(
        'li',
        { class: `event${words.tone === 'warning' ? ' event--warning' : ''}`, 'data-event': entry.event, 'data-outcome': entry.outcome },
        h('p', { class: 'notice__title' }, words.title),
        h('p', { class: 'muted' }, facts.filter(Boolean).join(' · ')),
        entry.detail ? h('p', { class: 'muted' }, entry.detail) : null,
      );
    }

    const feed = eventFeed({
      path: '/api/admin/audit',
      pageSize: AUDIT_PAGE,
      list,
      note,
      more,
      row,
      status: (shown) => (shown ? `${shown} entries shown, newest first.` : 'The log is empty.'),
      failed: (error) => `Could not load the audit log: ${explain(error)}`,
    });
    const node = h('section', { class: 'card', 'aria-labelledby': 'audit-title' }, h('h2', { id: 'audit-title' }, 'Audit log'), note, list, more);
    return { node, reload: feed.reload };
  })();

  // Users first, so the log can name them by email.
  loadUsers(1).then(() => audit.reload());
  const node = h(
    'div',
    { class: 'stack' },
    h(
      'section',
      { class: 'card' },
      h('h1', { id: 'page-title' }, 'Administration'),
      h('p', { class: 'lead' }, 'Every account on this server. Changes take effect at once and are written to the audit log below.'),
      searchForm,
      status,
    ),
    users,
    pager,
    audit.node,
  );
  return { node };
}
