// Security events of the audit log (GET /auth/activity, GET /api/admin/audit) in plain words,
// keyed by the server's stable `event` code. The codes are those the server records: domain/auth.rs
// (login, refresh_token_reused), domain/sessions.rs (logout, session_revoked), domain/accounts.rs
// (register, email_verified, password_*, email_change*, email_changed, account_deleted) and
// http/admin.rs (the administrators' actions).
// `title` is a short label (the admin log's column), `text` a sentence for the account's owner.

import * as session from './session.js';

const EVENTS = {
  login: {
    title: 'Signed in',
    text: 'You signed in.',
    failure: { title: 'Sign-in refused', text: 'Someone tried to sign in to your account and was refused.' },
  },
  logout: { title: 'Signed out', text: 'You signed out.' },
  session_revoked: { title: 'Session ended', text: 'You ended one of your sessions.' },
  refresh_token_reused: {
    title: 'Session ended: sign-in reused',
    text: 'The sign-in of a session was used from two places, which can mean it was copied, so we ended that session.',
    tone: 'warning',
  },
  register: { title: 'Account created', text: 'You created your account.' },
  email_verified: { title: 'Email confirmed', text: 'You confirmed your email address.' },
  password_reset_requested: { title: 'Password reset requested', text: 'A link to reset your password was requested.' },
  password_reset: { title: 'Password reset', text: 'Your password was reset with an email link, and every session ended.' },
  password_change: {
    title: 'Password changed',
    text: 'You changed your password, and your other sessions ended.',
    failure: { title: 'Password change refused', text: 'A password change was refused: the current password was wrong.' },
  },
  // A change of the sign-in address: asked for (the password again), confirmed from the new
  // address, undone from the old one.
  email_change: {
    title: 'Email change asked for',
    text: 'You asked to change your email address.',
    failure: { title: 'Email change refused', text: 'A change of your email address was refused: the current password was wrong.' },
  },
  email_change_requested: {
    title: 'Email change asked for',
    text: 'You asked to change your email address; a link to confirm it went to the new address.',
  },
  email_changed: { title: 'Email address changed', text: 'Your sign-in address was changed, and the old address was told.' },
  email_change_undone: {
    title: 'Email change undone',
    text: 'A change of your email address was undone from the old address: every session ended and the password stopped working.',
    tone: 'warning',
  },
  account_deleted: {
    title: 'Account deleted',
    text: 'The account was deleted, and every session with it.',
    failure: { title: 'Account deletion refused', text: 'Deleting your account was refused: the password was wrong.' },
  },
  // An administrator's actions: `text` when done to you, `byYou` when you did it to someone else.
  set_roles: { title: 'Roles changed', text: 'An administrator changed your roles.', byYou: 'You changed the roles of an account.' },
  set_plan: { title: 'Plan changed', text: 'An administrator changed your plan.', byYou: 'You changed the plan of an account.' },
  disable_user: { title: 'Account disabled', text: 'An administrator disabled your account.', byYou: 'You disabled an account.', tone: 'warning' },
  client_added: { title: 'App registered', text: 'An OAuth app was registered.', byYou: 'You registered an OAuth app.' },
  client_removed: { title: 'App removed', text: 'An OAuth app was removed.', byYou: 'You removed an OAuth app.', tone: 'warning' },
  key_rotated: {
    title: 'Signing key rotated',
    text: 'The next signing key was published; it signs once every verifier can have fetched it.',
    byYou: 'You published the next signing key.',
    failure: { title: 'Key rotation refused', text: 'Publishing the next signing key was refused.' },
  },
  key_revoked: {
    title: 'Signing key revoked',
    text: 'A signing key was revoked: every token it signed is refused.',
    byYou: 'You revoked a signing key: every token it signed is refused.',
    tone: 'warning',
    failure: { title: 'Key revocation refused', text: 'Revoking a signing key was refused.' },
  },
  enable_user: { title: 'Account enabled', text: 'An administrator enabled your account.', byYou: 'You enabled an account.' },
  end_sessions: {
    title: 'All sessions ended',
    text: 'An administrator ended all of your sessions.',
    byYou: 'You ended all sessions of an account.',
    tone: 'warning',
  },
};

// The logout detail says which sessions the sign-out covered.
const LOGOUT_SCOPES = {
  'scope others': 'You signed out everywhere else.',
  'scope all': 'You signed out everywhere.',
};

// A failed sign-in's detail says why, without revealing anything the owner does not know.
const LOGIN_FAILURES = {
  'wrong password': 'Someone tried to sign in to your account with a wrong password.',
  'email not verified': 'A sign-in was refused because your email address was not confirmed yet.',
};

/**
 * The words for one audit entry: { title, text, tone, failed }. `viewerId` is the signed-in user,
 * to tell "done to you" from "done by you".
 */
export function describeEvent(entry, viewerId = null) {
  const failed = entry.outcome === 'failure';
  const known = EVENTS[entry.event];
  if (!known) {
    return { title: entry.event, text: `Security event “${entry.event}”${failed ? ' (refused)' : ''}.`, tone: 'info', failed };
  }
  let { title, text } = failed && known.failure ? known.failure : known;
  if (entry.event === 'logout') text = LOGOUT_SCOPES[entry.detail] || text;
  if (entry.event === 'login' && failed) text = LOGIN_FAILURES[entry.detail] || text;
  const byYou = known.byYou && viewerId && entry.actor_id === viewerId && entry.subject_id !== viewerId;
  if (byYou) text = known.byYou;
  // Only the administrators' actions fail without a sentence of their own (e.g. 409 on oneself).
  if (failed && !known.failure) {
    title = `${title} (refused)`;
    text = byYou ? 'Your change to an account was refused.' : 'A change to your account was refused.';
  }
  return { title, text, tone: failed ? 'warning' : known.tone || 'info', failed };
}

/** An event's time (unix seconds) in the reader's locale. */
export function eventTime(seconds) {
  const ms = Number(seconds) * 1000;
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toLocaleString() : 'unknown time';
}

/**
 * A newest-first list of audit events from `path` (either audit route: same page shape), paged
 * through the server's cursor: `reload()` shows the first page, `more` appends the older ones.
 * `row(entry)` builds one item; `status(shown)` words the line of `note` once a page is in.
 */
export function eventFeed({ path, pageSize, list, note, more, row, status, failed }) {
  let cursor = null;

  async function load(before = null) {
    more.disabled = true;
    try {
      const query = new URLSearchParams({ limit: String(pageSize) });
      if (before) query.set('before', before);
      const { data } = await session.call('GET', `${path}?${query}`);
      const rows = (data?.events || []).map(row);
      if (before) list.append(...rows);
      else list.replaceChildren(...rows);
      cursor = data?.next_cursor || null;
      more.hidden = !cursor;
      note.textContent = status(list.children.length);
    } catch (error) {
      note.textContent = failed(error);
    }
    more.disabled = false;
  }

  more.addEventListener('click', () => load(cursor));
  return { reload: () => load() };
}
