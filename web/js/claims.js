// The access token's claims, each with one line of plain language. The token itself is in an
// HttpOnly cookie (script cannot read it, by design), so the claims come from GET /api/me.
// Also what each scope an app may be given lets it see (an app's token carries them in its
// `scope` claim): said on the consent screen and again on the Sessions page, in the same words.

const EXPLAIN = {
  sub: 'Subject: your user id. Services use it to know who is calling.',
  email: 'The email address of the account the token was issued to.',
  email_verified: 'Whether you confirmed that address by opening the link we mailed you.',
  roles: 'Roles: what you may do. None means a regular account.',
  plan: 'Your plan, so services can enable features without asking the database.',
  sid: 'Session: this sign-in. Signing out ends it, and the token stops working at once.',
  exp: 'Expiry: after this moment no service accepts the token. This page fetches a new one before then.',
  iat: 'Issued at: when this token was made.',
  nbf: 'Not before: the token is not valid before this moment.',
  iss: 'Issuer: the server that signed the token.',
  aud: 'Audience: the services the token is meant for; others must refuse it.',
  jti: 'Token id: a unique id for this one token.',
};

// /api/me answers with profile names; these are the claims they come from.
const FROM_PROFILE = [
  ['sub', 'id'],
  ['email', 'email'],
  ['email_verified', 'email_verified'],
  ['roles', 'roles'],
  ['plan', 'plan'],
  ['sid', 'session_id'],
  ['exp', 'expires_at'],
];

const TIME_CLAIMS = new Set(['exp', 'iat', 'nbf']);

function display(name, value) {
  if (value === null || value === undefined) return { text: 'not set', muted: true };
  if (typeof value === 'boolean') return { text: value ? 'yes' : 'no' };
  if (Array.isArray(value)) return value.length ? { text: value.join(', ') } : { text: 'none', muted: true };
  if (TIME_CLAIMS.has(name) && Number.isFinite(value)) {
    const date = new Date(value * 1000);
    return { text: date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }), raw: String(value) };
  }
  return { text: String(value) };
}

/** [{ name, text, raw?, muted?, explanation }] for a /api/me answer. */
export function describeClaims(profile) {
  const source = profile && typeof profile.claims === 'object' && profile.claims !== null ? profile.claims : null;
  const pairs = source
    ? Object.entries(source)
    : FROM_PROFILE.filter(([, key]) => key in (profile || {})).map(([name, key]) => [name, profile[key]]);
  return pairs.map(([name, value]) => ({
    name,
    ...display(name, value),
    explanation: EXPLAIN[name] || 'A claim added by this server.',
  }));
}

/** What each scope lets an app do, in words (the scopes of /.well-known/openid-configuration). */
const SCOPE_WORDS = {
  openid: 'Know who you are: your account id on this server.',
  email: 'See your email address, and whether you confirmed it.',
};

/** One sentence for a scope the server names; an unknown one as it came. */
export function scopeWords(scope) {
  return SCOPE_WORDS[scope] || scope;
}
