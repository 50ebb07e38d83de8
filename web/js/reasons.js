// Why a session ended, in plain words, keyed by the server's problem `code` (the session's end
// reason on a 401 from /auth/refresh, or the error code of the request that failed).

const MESSAGES = {
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
  expired: {
    title: 'Your session expired',
    text: 'Sign in again to continue.',
  },
  revoked: {
    title: 'This session was ended',
    text: 'It was signed out from another device or by an administrator. Sign in again to continue.',
    tone: 'warning',
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
  missing_credentials: {
    title: 'You are signed out',
    text: 'This browser no longer holds a session, for example after signing out in another tab.',
  },
};

/** The message for an end reason; `elsewhere` when another tab reported it. */
export function endMessage(code, elsewhere = false) {
  if (code === 'logout' && elsewhere) {
    return { code, title: 'You signed out in another tab', text: 'Your session has ended in every tab.' };
  }
  const known = MESSAGES[code];
  if (known) return { code, tone: 'info', ...known };
  return {
    code,
    tone: 'info',
    title: 'Your session ended',
    text: 'Sign in again to continue.',
  };
}

// The answers of a single-use email link (reset, verify-email), in plain words.
const TOKEN_MESSAGES = {
  token_used: 'This link was already used. Each link works once: ask for a new one if you still need it.',
  token_expired: 'This link has expired. Ask for a new one.',
  invalid_link: 'This link is not valid. Check that you opened the whole link from the mail, or ask for a new one.',
};

/** The message for a refused email link, or null if `code` is not about the link. */
export function tokenMessage(code) {
  return TOKEN_MESSAGES[code] || null;
}

// Why a sign-in was refused (POST /auth/login). Throttling keeps the server's own detail, which
// says which limit and for how long.
const SIGN_IN_MESSAGES = {
  invalid_credentials: 'That email and password do not match an account. Check both and try again.',
  account_disabled: 'This account has been disabled by an administrator. Contact them if you think this is a mistake.',
  email_not_verified: 'Confirm your email address first: open the link we mailed you when you registered.',
  server_busy: 'The server is busy signing other people in. Try again in a moment.',
};

/** The message for a refused sign-in, or null to show the server's own detail. */
export function signInMessage(code) {
  return SIGN_IN_MESSAGES[code] || null;
}
