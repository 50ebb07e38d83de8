// What the page says to people when the server refuses something: one sentence (or two) for every
// problem `code` the client can receive, written for a person, never the server's own lower-case
// `detail` on its own. Where the detail carries the part only the server knows (what to fix in a
// weak password, which limit, how long to wait), it is framed in a sentence of ours.
//
// The codes are those of the server's `title()` and `END_REASONS` (crates/jwtgate/src/http/
// error.rs) and of jwtgate-verify's `problem_title()`; tests/messages.test.mjs reads them there
// and fails when one has no sentence here. Pure module: no DOM, no session, so Node can import it.

/** The advice next to every new-password field (register, reset, change). */
export const PASSWORD_HINT = 'At least 8 characters. A few unusual words make a strong, memorable password.';

/** A wait in words: "1 second", "42 seconds", "3 minutes", "2 hours" (rounded up). */
export function inWords(totalSeconds) {
  const s = Math.max(0, Math.ceil(Number(totalSeconds) || 0));
  const unit = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (s < 120) return unit(s, 'second');
  if (s < 2 * 3600) return unit(Math.ceil(s / 60), 'minute');
  return unit(Math.ceil(s / 3600), 'hour');
}

/** "some text" -> "Some text." (a server fragment made into a sentence of its own). */
function sentence(text) {
  const t = String(text || '').trim().replace(/[.;:,\s]+$/, '');
  return t ? `${t[0].toUpperCase()}${t.slice(1)}.` : '';
}

/** The wait of a throttled answer: Retry-After, else the "N seconds" of its detail. */
function waitOf(error, fallback) {
  if (Number.isFinite(error?.retryAfter) && error.retryAfter > 0) return error.retryAfter;
  const inDetail = /(\d+) seconds?/.exec(error?.detail || '');
  return inDetail ? Number(inDetail[1]) : fallback;
}

function tryAgainIn(error, fallback) {
  const wait = waitOf(error, fallback);
  return wait ? `try again in ${inWords(wait)}` : 'try again in a moment';
}

// --- details that carry what to fix ----------------------------------------------------------

/** A weak_password detail ("password is too easy to guess: <zxcvbn advice>") as sentences. */
export function weakPassword(detail) {
  const d = String(detail || '').trim();
  if (/at least (\d+) characters/.test(d)) return `Use at least ${/at least (\d+)/.exec(d)[1]} characters.`;
  if (/at most (\d+) characters/.test(d)) return `Use at most ${/at most (\d+)/.exec(d)[1]} characters.`;
  const guessable = /^password is too easy to guess:?\s*(.*)$/is.exec(d);
  if (guessable) {
    const advice = guessable[1].trim();
    return `This password is too easy to guess. ${advice ? sentence(advice) : 'Add a few unusual words.'}`;
  }
  return d ? `Choose a stronger password: ${sentence(d)}` : 'Choose a stronger password: add a few unusual words.';
}

// The address grammar's refusals (domain/email.rs), in the order the server checks them.
const EMAIL_DETAILS = [
  // The address change's own refusal (domain/accounts.rs): the new address is the current one.
  [/already your sign-in address/, 'This is already your sign-in address. Enter the new one.'],
  [/is empty/, 'Enter your email address.'],
  [/longer than (\d+)/, (m) => `This address is too long: an email address has at most ${m[1]} characters.`],
  [/space|control|invisible/, 'This address contains a space or an invisible character. Type it again without them.'],
  [/must contain @/, 'An email address needs an @, as in ada@example.com.'],
  [/before @ must be (\d+) to (\d+)/, (m) => `The part before the @ must be ${m[1]} to ${m[2]} characters long.`],
  [/before @ may hold/, 'The part before the @ may hold letters, digits, single dots (not first or last) and the signs !#$%&\'*+/=?^_`{|}~-.'],
  [/domain after @/, 'The part after the @ must be a domain, such as example.com.'],
];

/** An invalid_email detail as a sentence. */
export function invalidEmail(detail) {
  for (const [pattern, words] of EMAIL_DETAILS) {
    const match = pattern.exec(detail || '');
    if (match) return typeof words === 'function' ? words(match) : words;
  }
  return detail ? `This email address is not valid: ${sentence(detail)}` : 'This email address is not valid.';
}

/** An invalid_field answer (todos, admin) as a sentence about that field. */
export function invalidField(error) {
  const detail = String(error?.detail || '');
  const field = error?.field || /^(\w+) /.exec(detail)?.[1] || '';
  let m;
  if (field === 'title') {
    if ((m = /(\d+) to (\d+) characters/.exec(detail))) return `A todo's title must be ${m[1]} to ${m[2]} characters long.`;
    if (/required/.test(detail)) return 'Give the todo a title.';
  }
  if ((m = /^plan must be one of: (.+)$/.exec(detail))) return `Choose one of the plans this server has: ${m[1]}.`;
  if ((m = /^role "(.*)" is not a valid name/.exec(detail))) {
    return `The role “${m[1]}” is not a valid name: start with a lower-case letter, then use up to 31 of a to z, 0 to 9, _ or -.`;
  }
  if ((m = /^at most (\d+) roles/.exec(detail))) return `A user can have at most ${m[1]} roles.`;
  // An OAuth client (admin): the detail names what to fix; said as a sentence about the app.
  if ((m = /^redirect URI "(.*)" (.+)$/.exec(detail))) return sentence(`The redirect URI “${m[1]}” ${m[2]}`);
  if (field === 'name' && (m = /^the name (.+)$/.exec(detail))) return sentence(`The app’s name ${m[1]}`);
  if (['redirect_uris', 'grants', 'kind', 'client_secret'].includes(field)) return sentence(detail);
  return detail ? `Check ${field ? `the ${field}` : 'what you entered'}: ${sentence(detail)}` : 'Check what you entered and try again.';
}

// --- why a session ended ---------------------------------------------------------------------

// Keyed by the end reason a refresh answers with (END_REASONS), plus the refusals that end a
// session on this page (invalid_token, invalid_refresh_token, duplicate_cookie...).
const ENDED = {
  logout: {
    title: 'You signed out',
    text: 'Your session has ended and its tokens no longer work anywhere.',
  },
  refresh_token_reused: {
    title: 'We ended your session to protect your account',
    text:
      'The sign-in for this session was used from two places, which can mean it was copied. ' +
      'Sign in again; if this happens again, change your password.',
    tone: 'warning',
  },
  session_expired: {
    title: 'Your session expired',
    text: 'You were away for a while, or the session reached its maximum age. Sign in again to continue.',
  },
  session_ended: {
    title: 'Your session ended',
    text: 'Sign in again to continue.',
  },
  invalid_token: {
    title: 'Your sign-in is no longer valid',
    text: 'The server did not accept this session any more. Sign in again to continue.',
  },
  invalid_refresh_token: {
    title: 'Your sign-in is no longer valid',
    text: 'The server no longer knows this session. Sign in again to continue.',
  },
  session_limit: {
    title: 'This session made room for a newer one',
    text: 'Your account has many sessions; signing in elsewhere ended the one used longest ago, this one. Sign in again to continue.',
    tone: 'warning',
  },
  duplicate_cookie: {
    title: 'Your sign-in cookies were cleared',
    text: 'This browser sent two sign-in cookies, which can mean another site tried to plant one. Sign in again to continue.',
    tone: 'warning',
  },
  signed_out_elsewhere: {
    title: 'This session was signed out',
    text: 'It was signed out from another of your devices. Sign in again to continue.',
    tone: 'warning',
  },
  password_reset: {
    title: 'Your password was reset',
    text: 'Every session ended when the password changed. Sign in with the new password.',
  },
  password_changed: {
    title: 'Your password was changed',
    text: 'Every other session ended when the password changed. Sign in with the new password.',
    tone: 'warning',
  },
  disabled_by_admin: {
    title: 'Your account was disabled',
    text: 'An administrator disabled this account. Contact them if you think this is a mistake.',
    tone: 'warning',
  },
  signed_out_by_admin: {
    title: 'An administrator ended your session',
    text: 'Sign in again to continue.',
    tone: 'warning',
  },
  email_change_undone: {
    title: 'A change of your email address was undone',
    text: 'The change was undone from the old address, so every session ended and the password stopped working. A link to choose a new password went to that address.',
    tone: 'warning',
  },
  account_deleted: {
    title: 'Your account was deleted',
    text: 'The account and its data are gone, and every session with it.',
  },
  signed_out_by_app: {
    title: 'An app signed you out',
    text: 'An app you signed in to through this account asked to end your session here. Sign in again to continue.',
  },
  authorization_code_reused: {
    title: 'This session was ended for safety',
    text: 'The app sign-in that started it was used twice, which can mean it was copied. Sign in again to continue.',
    tone: 'warning',
  },
  app_access_revoked: {
    title: 'Access for this app was taken back',
    text: 'Sign in again to continue.',
  },
  missing_credentials: {
    title: 'You are signed out',
    text: 'This browser no longer holds a session, for example after signing out in another tab.',
  },
};

/** The notice for a session that ended: { code, title, text, tone }; `elsewhere` when another tab said so. */
export function endMessage(code, elsewhere = false) {
  if (code === 'logout' && elsewhere) {
    return { code, tone: 'info', title: 'You signed out in another tab', text: 'Your session has ended in every tab.' };
  }
  const known = ENDED[code];
  if (known) return { code, tone: 'info', ...known };
  return { code, tone: 'info', ...ENDED.session_ended };
}

// --- every refusal -----------------------------------------------------------------------------

const ADMINS_ONLY = 'Only administrators can do this, and this session is not an administrator’s. Sign in again if your roles just changed.';

/**
 * code -> the sentence, or a function of the ApiError (for the details that carry what to fix or
 * how long to wait). Exported for the test that walks the server's codes.
 */
export const MESSAGES = {
  // Signing in to an app (OpenID Connect): links that cannot go back to their app.
  invalid_client: 'The app that sent you here is not registered with this server, so you cannot sign in to it from here.',
  invalid_redirect_uri: 'The app that sent you here asked to send you back to an address it never registered. For your safety, the sign-in stops here.',
  // Registration and sign-in.
  invalid_email: (e) => invalidEmail(e.detail),
  weak_password: (e) => weakPassword(e.detail),
  email_taken: 'An account with this email already exists. Sign in instead, or reset its password if you forgot it.',
  invalid_credentials: 'That email and password do not match an account. Check both and try again.',
  too_many_attempts: (e) => {
    const which = /for this (account|ip|device|session)/.exec(e.detail || '')?.[1];
    const wait = tryAgainIn(e, 15);
    switch (which) {
      case 'session':
        return `Too many wrong current passwords on this session. For your account's safety, ${wait}.`;
      case 'ip':
        return `Too many failed sign-ins from your network address. To keep guessers out, ${wait}.`;
      case 'device':
        return `Too many failed sign-ins from this browser. To keep guessers out, ${wait}.`;
      default:
        return `Too many failed sign-ins on this account. To keep guessers out, ${wait}.`;
    }
  },
  too_many_sign_ins: (e) => `This account has signed in too often in the last minute. Please ${tryAgainIn(e, 60)}.`,
  server_busy: (e) => `The server is busy signing other people in. Please ${tryAgainIn(e, 1)}.`,
  origin_not_allowed: 'Signing in from another site is not allowed. Open this server’s own page and sign in there.',
  account_disabled: 'This account has been disabled by an administrator. Contact them if you think this is a mistake.',
  email_not_verified: 'Confirm your email address first: open the link we mailed you when you registered.',
  // Signed in.
  wrong_password: 'That is not your current password. Check it and try again.',
  rate_limited: (e) => {
    const plan = /the (\S+) plan allows (\d+) requests a minute/.exec(e.detail || '');
    const limit = plan ? ` (the ${plan[1]} plan allows ${plan[2]} requests a minute)` : '';
    return `You are going faster than your plan allows${limit}. Please ${tryAgainIn(e, 60)}.`;
  },
  csrf_failed: 'This page’s security check did not match its session, so nothing was changed. Reload the page and try again.',
  not_found: 'It is not there any more: it may have been deleted, or it is not yours to see.',
  client_not_found: 'This app is not registered any more: it may have been removed already.',
  insufficient_scope: ADMINS_ONLY,
  cannot_modify_self: (e) => {
    if (/admin role/.test(e.detail || '')) return 'You cannot remove your own administrator role. Ask another administrator to do it.';
    if (/disable/.test(e.detail || '')) return 'You cannot disable your own account. Ask another administrator to do it.';
    return 'You cannot do this to your own account. Ask another administrator to do it.';
  },
  last_admin: 'This would leave the server without an enabled administrator. Make someone else an administrator first.',
  // Email links.
  token_used: 'This link was already used. Each link works once: ask for a new one if you still need it.',
  token_expired: 'This link has expired. Ask for a new one.',
  invalid_link: 'This link is not valid. Check that you opened the whole link from the mail, or ask for a new one.',
  // The request itself: a page out of date, or something between the page and the server.
  invalid_field: (e) => invalidField(e),
  missing_field: 'The request lacked something the server needs. Reload the page and try again.',
  invalid_json: 'The server could not read this request. Reload the page and try again.',
  bad_request: 'The server could not understand this request. Reload the page and try again.',
  invalid_request: 'The server refused the way this browser presented your sign-in. Sign out, sign in again and retry.',
  invalid_path: 'The server could not read the address of this request. Reload the page and try again.',
  invalid_query: 'The server did not accept the search or page asked for. Change it and try again.',
  payload_too_large: 'That is more than the server takes in one go. Make it shorter and try again.',
  unsupported_media_type: 'The server did not accept the format of this request. Reload the page and try again.',
  method_not_allowed: 'The server does not allow that here. Reload the page: it may be out of date.',
  request_timeout: 'The request took too long to arrive, so the server gave up on it. Check your connection and try again.',
  missing_credentials: 'You are not signed in, or no longer. Sign in to continue.',
  invalid_token: 'Your sign-in is no longer valid. Sign in again to continue.',
  invalid_refresh_token: 'The server no longer knows this session. Sign in again to continue.',
  duplicate_cookie: 'This browser sent its sign-in cookie twice, which can mean another site tried to plant one, so both were cleared. Sign in again.',
  // The server.
  internal_error: (e) =>
    'Something went wrong on the server. Try again in a moment; if it keeps happening, tell the administrator' +
    (e.requestId ? ` and quote the reference ${e.requestId}.` : '.'),
  not_ready: 'The server is starting up or cannot reach its database. Try again in a moment.',
  revocation_view_stale: 'This server cannot confirm right now that your sign-in is still valid. Try again in a moment.',
  client_error: 'The server refused this request. Reload the page and try again.',
  // Not from the server: the request never got an answer.
  network_error: 'The server could not be reached. Check your connection and try again.',
};

// A session that ended: its end notice, as one sentence.
for (const code of Object.keys(ENDED)) {
  if (!(code in MESSAGES)) MESSAGES[code] = `${ENDED[code].title}. ${ENDED[code].text}`;
}

/**
 * Where a code means something else than it does elsewhere, the page's own sentence, keyed by page
 * and code. A taken address is a reason to sign in on the register page but to choose another
 * one when changing yours; a spent or expired link asks for a new one elsewhere, but an undo link
 * cannot be asked for again. Read before MESSAGES by describeError(error, page).
 */
export const PAGE_MESSAGES = {
  'change-email': {
    email_taken: 'Another account already signs in with this address. Choose a different one.',
  },
  'confirm-email': {
    email_taken:
      'Another account started using this address after the link was sent, so it cannot become yours. Your sign-in address has not changed.',
    token_used:
      'This link was already used. Each link works once: if you pressed its button before, your sign-in address is already the new one.',
    token_expired:
      'This link has expired: it works for 24 hours. Your sign-in address has not changed; to change it, start again from your profile.',
    invalid_link:
      'This link is not valid. Check that you opened the whole link from the mail, or start the change again from your profile.',
  },
  'undo-email': {
    email_taken:
      'This address now belongs to another account, so it cannot be put back. Ask the administrator of this server for help.',
    token_used:
      'This link was already used, or the change was undone with another link. Look in this mailbox for the link to choose a new password.',
    token_expired:
      'This link has expired: it works for 72 hours after the change. If you did not change the address, ask the administrator of this server for help.',
    invalid_link: 'This link is not valid. Check that you opened the whole link from the mail.',
  },
  'delete-account': {
    last_admin:
      'You are the only administrator of this server, so your account cannot be deleted. Make someone else an administrator first.',
  },
};

/**
 * The sentence for a refusal (an ApiError, a SessionEndedError, or anything with a `code`);
 * `page` (a key of PAGE_MESSAGES) picks that page's own sentence where it has one.
 */
export function describeError(error, page = null) {
  const own = page ? PAGE_MESSAGES[page]?.[error?.code] : undefined;
  if (typeof own === 'string') return own;
  const message = MESSAGES[error?.code];
  if (typeof message === 'function') return message(error);
  if (typeof message === 'string') return message;
  const status = Number(error?.status);
  if (status >= 500) return MESSAGES.internal_error(error || {});
  return 'The server refused this. Reload the page and try again; if it keeps happening, tell the administrator.';
}
