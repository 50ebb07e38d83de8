// Your sessions (GET /auth/sessions): where you are signed in, each with its browser and system
// (the server's label for the User-Agent), its address, when it was first used (the sign-in) and
// last used; this device first and marked; an app's session under the app's name. Any other can
// be signed out, or all of them but this. Below, the apps you allowed on a consent screen
// (GET /api/me/apps), each with what it may see and a way to take its access back.

import { scopeWords } from '../claims.js';
import { confirmAction } from '../dialog.js';
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
    // An app's session goes by the app's name, so it is not taken for one of your browsers;
    // the browser or server it signs in from is one of its facts.
    const device = item.device || 'Unknown device';
    const label = item.app || device;
    const fact = (term, ...value) => [h('dt', {}, term), h('dd', {}, ...value)];
    const children = [
      h(
        'div',
        { class: 'card__header' },
        h('h2', { class: 'session__device' }, label),
        item.current ? h('span', { class: 'badge badge--here', id: 'this-device' }, 'This device') : null,
        item.app ? h('span', { class: 'badge badge--app' }, 'App') : null,
      ),
      h(
        'dl',
        { class: 'facts' },
        ...(item.app ? fact('Signed in from', device) : []),
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
  async function loadSessions(said = '') {
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
      said = `Signed out ${item.app || item.device || 'that device'}.`;
    } catch (error) {
      said = `Could not sign it out. ${describeError(error)}`;
    }
    await loadSessions(said);
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
    await loadSessions(said);
  }

  const apps = allowedApps(loadSessions);
  loadSessions();
  apps.load();
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
    apps.node,
  );
  return { node };
}

/**
 * The "Apps you allowed" section: each app, what it may see (in the consent screen's words) and
 * since when; "Remove access" asks first, then forgets the consent, which also ends the app's
 * sessions, so `reloadSessions` reads that list again too.
 */
function allowedApps(reloadSessions) {
  const title = h('h2', { id: 'apps-title' }, 'Apps you allowed');
  const list = h('ul', { class: 'allowed-apps', id: 'apps-list', 'aria-labelledby': 'apps-title' });
  const status = h('p', { class: 'muted', role: 'status', id: 'apps-status' });
  const empty = h(
    'p',
    { id: 'apps-empty', hidden: true },
    'You have not allowed any apps. When an app asks to sign you in with this account and you allow it, it is listed here.',
  );

  function item(app) {
    return h(
      'li',
      { class: 'allowed-app', 'data-client': app.client_id },
      h('h3', {}, app.name),
      h('p', { class: 'allowed-app__may' }, 'It may:'),
      h('ul', { class: 'allowed-app__scopes' }, ...app.scopes.map((s) => h('li', {}, scopeWords(s)))),
      h('p', { class: 'muted' }, 'Allowed ', when(app.granted_at), '.'),
      h(
        'button',
        { type: 'button', class: 'button button--quiet', 'aria-label': `Remove access for ${app.name}`, onclick: () => remove(app) },
        'Remove access',
      ),
    );
  }

  async function load(said = '') {
    status.textContent = `${said} Loading…`.trim();
    try {
      const { data } = await session.call('GET', '/api/me/apps');
      const apps = data?.apps || [];
      list.replaceChildren(...apps.map(item));
      empty.hidden = apps.length > 0;
      status.textContent = said;
    } catch (error) {
      status.textContent = `Could not load the apps you allowed. ${describeError(error)}`;
    }
  }

  async function remove(app) {
    const yes = await confirmAction({
      id: 'remove-app-dialog',
      title: `Remove access for ${app.name}?`,
      text: `${app.name} is signed out wherever it has a session of yours, and it has to ask you again before it can sign you in.`,
      confirm: 'Remove access',
    });
    if (!yes) return;
    let said;
    try {
      await session.call('DELETE', `/api/me/apps/${encodeURIComponent(app.client_id)}`);
      said = `Removed access for ${app.name}.`;
    } catch (error) {
      said = `Could not remove access for ${app.name}. ${describeError(error)}`;
    }
    await Promise.all([load(said), reloadSessions()]);
    // Its button is gone with it: the keyboard goes on from the section, where the outcome is said.
    title.setAttribute('tabindex', '-1');
    title.focus();
  }

  const node = h(
    'section',
    { class: 'card', 'aria-labelledby': 'apps-title' },
    title,
    h('p', { class: 'lead' }, 'Apps you let sign you in with this account on a consent screen. Removing one signs it out and it has to ask again.'),
    status,
    empty,
    list,
  );
  return { node, load };
}
