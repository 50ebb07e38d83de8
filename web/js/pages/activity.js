// Your security activity (GET /auth/activity): sign-ins, refused sign-ins, sign-outs, password
// and account changes, newest first, each in a sentence with its time and address. Older events
// come a page at a time through the server's cursor (`next_cursor` passed back as `before`).

import { h } from '../dom.js';
import { describeEvent, eventFeed, eventTime } from '../events.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

const PAGE_SIZE = 20;

// A sign-in's detail names its session ("session <id>"); the device is known while that session
// is still active (GET /auth/sessions), since the audit log itself stores no user agent.
function sessionOf(entry) {
  return /^session ([0-9a-f-]{36})\b/.exec(entry.detail || '')?.[1] || null;
}

export function activityPage() {
  const list = h('ul', { class: 'stack', id: 'activity-list', 'aria-labelledby': 'page-title' });
  const status = h('p', { class: 'muted', role: 'status', id: 'activity-status' }, 'Loading…');
  const more = h('button', { type: 'button', class: 'button button--quiet', id: 'activity-more', hidden: true }, 'Show older events');
  let devices = new Map(); // session id -> device, for the sessions still active

  function row(entry) {
    const words = describeEvent(entry, session.user()?.id);
    const device = devices.get(sessionOf(entry));
    const where = [`IP ${entry.ip || 'unknown'}`, device ? `device ${device}` : null].filter(Boolean).join(' · ');
    return h(
      'li',
      { class: `card event${words.tone === 'warning' ? ' event--warning' : ''}`, 'data-event': entry.event, 'data-outcome': entry.outcome },
      h('p', { class: 'notice__title' }, words.text),
      h('p', { class: 'muted' }, h('time', { datetime: new Date(entry.at * 1000).toISOString() }, eventTime(entry.at)), ` · ${where}`),
    );
  }

  async function loadDevices() {
    try {
      const { data } = await session.call('GET', '/auth/sessions');
      devices = new Map((data?.sessions || []).map((s) => [s.id, s.device || 'unknown']));
    } catch {
      // Devices are a nicety: the events are still worth showing without them.
    }
  }

  const feed = eventFeed({
    path: '/auth/activity',
    pageSize: PAGE_SIZE,
    list,
    note: status,
    more,
    row,
    status: (shown) => (shown ? `${shown} event${shown === 1 ? '' : 's'} shown, newest first.` : 'No security events yet.'),
    failed: (error) => `Could not load your activity. ${describeError(error)}`,
  });
  loadDevices().then(feed.reload);
  const node = h(
    'div',
    { class: 'stack' },
    h(
      'section',
      { class: 'card' },
      h('h1', { id: 'page-title' }, 'Your activity'),
      h(
        'p',
        { class: 'lead' },
        'Security events on your account: if you do not recognise one, ',
        h('a', { href: '#/password' }, 'change your password'),
        ' (which signs out every other session) and check ',
        h('a', { href: '#/sessions' }, 'where you are signed in'),
        '.',
      ),
      status,
    ),
    list,
    more,
  );
  return { node };
}
