// Your sessions (GET /auth/sessions): where you are signed in, with a way to sign out any other
// device, or all of them but this one.

import { h } from '../dom.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

function when(seconds) {
  const ms = Number(seconds) < 1e12 ? Number(seconds) * 1000 : Number(seconds);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toLocaleString() : 'unknown';
}

export function sessionsPage() {
  const list = h('ul', { class: 'stack', id: 'sessions-list', 'aria-labelledby': 'page-title' });
  const status = h('p', { class: 'muted', role: 'status', id: 'sessions-status' });
  const others = h('button', { type: 'button', class: 'button button--quiet', id: 'sign-out-others', onclick: signOutOthers }, 'Sign out everywhere else');

  function row(item) {
    const label = item.device || 'Unknown device';
    const children = [
      h('p', { class: 'notice__title' }, label, item.current ? ' (this device)' : ''),
      h('p', { class: 'muted' }, `IP ${item.ip || 'unknown'} · signed in ${when(item.created_at)} · last used ${when(item.last_used_at)}`),
    ];
    if (!item.current) {
      children.push(
        h('button', { type: 'button', class: 'button button--quiet', 'aria-label': `Sign out ${label}`, onclick: (e) => revoke(e, item) }, 'Sign out'),
      );
    }
    return h('li', { class: 'card', 'data-session': item.id, 'data-current': item.current ? 'true' : null }, ...children);
  }

  async function load() {
    status.textContent = 'Loading…';
    try {
      const { data } = await session.call('GET', '/auth/sessions');
      const sessions = data?.sessions || [];
      list.replaceChildren(...sessions.map(row));
      others.hidden = !sessions.some((s) => !s.current);
      status.textContent = `${sessions.length} active session${sessions.length === 1 ? '' : 's'}.`;
    } catch (error) {
      status.textContent = `Could not load your sessions. ${describeError(error)}`;
    }
  }

  async function revoke(event, item) {
    event.currentTarget.disabled = true;
    try {
      await session.call('DELETE', `/auth/sessions/${encodeURIComponent(item.id)}`);
      status.textContent = `Signed out ${item.device || 'that device'}.`;
    } catch (error) {
      status.textContent = `Could not sign it out. ${describeError(error)}`;
    }
    await load();
  }

  async function signOutOthers() {
    others.disabled = true;
    try {
      await session.call('POST', '/auth/logout', { scope: 'others' });
    } catch (error) {
      status.textContent = `Could not sign out the other sessions. ${describeError(error)}`;
    }
    others.disabled = false;
    await load();
  }

  load();
  const node = h(
    'div',
    { class: 'stack' },
    h('section', { class: 'card' }, h('h1', { id: 'page-title' }, 'Your sessions'), h('p', { class: 'lead' }, 'Every browser or app signed in to your account.'), others, status),
    list,
  );
  return { node };
}
