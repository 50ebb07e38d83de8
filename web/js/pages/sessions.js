// Your sessions (GET /auth/sessions): where you are signed in, each with its browser and system
// (the server's label for the User-Agent), its address, when it was first used (the sign-in) and
// last used; this device first and marked. Any other can be signed out, or all of them but this.

import { h } from '../dom.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

const relative = typeof Intl.RelativeTimeFormat === 'function' ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

/** "3 minutes ago", "yesterday"... for unix seconds `seconds`, against the local clock. */
function ago(seconds) {
  const diff = Number(seconds) - Date.now() / 1000;
  if (!relative || !Number.isFinite(diff)) return null;
  const steps = [
    [60, 'second'],
    [3600, 'minute', 60],
    [86400, 'hour', 3600],
    [86400 * 30, 'day', 86400],
    [Infinity, 'month', 86400 * 30],
  ];
  if (Math.abs(diff) < 45) return 'just now';
  for (const [limit, unit, size = 1] of steps) {
    if (Math.abs(diff) < limit) return relative.format(Math.round(diff / size), unit);
  }
  return null;
}

/** A <time> for unix seconds: the date and time, and how long ago. */
function when(seconds) {
  const ms = Number(seconds) * 1000;
  if (!Number.isFinite(ms) || ms <= 0) return 'unknown';
  const date = new Date(ms);
  const text = date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const since = ago(seconds);
  return h('time', { datetime: date.toISOString() }, since ? `${since} (${text})` : text);
}

export function sessionsPage() {
  const list = h('ul', { class: 'stack', id: 'sessions-list', 'aria-labelledby': 'page-title' });
  const status = h('p', { class: 'muted', role: 'status', id: 'sessions-status' });
  const others = h('button', { type: 'button', class: 'button button--quiet', id: 'sign-out-others', onclick: signOutOthers }, 'Sign out everywhere else');

  function row(item) {
    const label = item.device || 'Unknown device';
    const fact = (term, ...value) => [h('dt', {}, term), h('dd', {}, ...value)];
    const children = [
      h(
        'div',
        { class: 'card__header' },
        h('h2', { class: 'session__device' }, label),
        item.current ? h('span', { class: 'badge badge--here', id: 'this-device' }, 'This device') : null,
      ),
      h(
        'dl',
        { class: 'facts' },
        ...fact('Address', item.ip || 'unknown'),
        ...fact('First used', when(item.created_at)),
        ...fact('Last used', item.current ? 'Now, on this page' : when(item.last_used_at)),
      ),
    ];
    if (item.current) {
      children.push(h('p', { class: 'muted' }, 'The browser you are using now. Signing out here ends it: use Sign out at the top.'));
    } else {
      children.push(
        h('button', { type: 'button', class: 'button button--quiet', 'aria-label': `Sign out ${label} (${item.ip || 'unknown address'})`, onclick: (e) => revoke(e, item) }, 'Sign out'),
      );
    }
    return h(
      'li',
      { class: `card session${item.current ? ' session--current' : ''}`, 'data-session': item.id, 'data-current': item.current ? 'true' : null, 'aria-current': item.current ? 'true' : null },
      ...children,
    );
  }

  /** Loads the list; `said` (what just happened) stays in front of the count. */
  async function load(said = '') {
    status.textContent = `${said} Loading…`.trim();
    try {
      const { data } = await session.call('GET', '/auth/sessions');
      // This device first, then the others from the most recently used.
      const sessions = [...(data?.sessions || [])].sort(
        (a, b) => Number(b.current) - Number(a.current) || Number(b.last_used_at) - Number(a.last_used_at),
      );
      list.replaceChildren(...sessions.map(row));
      others.hidden = !sessions.some((s) => !s.current);
      const n = sessions.length;
      const count = n === 1 ? 'Only this device is signed in.' : `${n} devices and apps are signed in, this one included.`;
      status.textContent = `${said} ${count}`.trim();
    } catch (error) {
      status.textContent = `Could not load your sessions. ${describeError(error)}`;
    }
  }

  async function revoke(event, item) {
    event.currentTarget.disabled = true;
    let said;
    try {
      await session.call('DELETE', `/auth/sessions/${encodeURIComponent(item.id)}`);
      said = `Signed out ${item.device || 'that device'}.`;
    } catch (error) {
      said = `Could not sign it out. ${describeError(error)}`;
    }
    await load(said);
  }

  async function signOutOthers() {
    others.disabled = true;
    let said;
    try {
      await session.call('POST', '/auth/logout', { scope: 'others' });
      said = 'Signed out everywhere else.';
    } catch (error) {
      said = `Could not sign out the other sessions. ${describeError(error)}`;
    }
    others.disabled = false;
    await load(said);
  }

  load();
  const node = h(
    'div',
    { class: 'stack' },
    h(
      'section',
      { class: 'card' },
      h('h1', { id: 'page-title' }, 'Your sessions'),
      h(
        'p',
        { class: 'lead' },
        'Every browser and app signed in to your account. Do not recognise one? Sign it out, then ',
        h('a', { href: '#/password' }, 'change your password'),
        '.',
      ),
      others,
      status,
    ),
    list,
  );
  return { node };
}
