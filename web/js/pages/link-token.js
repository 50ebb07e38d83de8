// The `token` of an email link (#/reset-password?token=..., #/verify-email?token=...).

export function linkToken() {
  const hash = window.location.hash || '';
  const at = hash.indexOf('?');
  return at < 0 ? '' : new URLSearchParams(hash.slice(at + 1)).get('token') || '';
}
