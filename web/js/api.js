// The low-level HTTP client of the page: same-origin JSON requests, problem+json errors, and the
// CSRF header on every state-changing request. It never sees a token: the access and refresh
// tokens live in HttpOnly cookies that the browser attaches by itself. The CSRF token is kept in
// this module's memory only (never in localStorage/sessionStorage), and fetched again with
// GET /auth/csrf after a page load.

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

let csrfToken = null;

/** Remembers (or forgets, with null) the CSRF token of the current cookie session. */
export function setCsrfToken(token) {
  csrfToken = typeof token === 'string' && token !== '' ? token : null;
}

/** An answer from the server that was not 2xx, carrying its problem+json `code` and `detail`. */
export class ApiError extends Error {
  constructor(status, problem) {
    const body = problem && typeof problem === 'object' ? problem : {};
    super(body.detail || `The server answered ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.code = typeof body.code === 'string' ? body.code : status === 0 ? 'network_error' : `http_${status}`;
    this.detail = body.detail || this.message;
    this.field = typeof body.field === 'string' ? body.field : null; // a 422's field
    this.requestId = typeof body.request_id === 'string' ? body.request_id : null; // a 500's reference
    this.retryAfter = null;
  }
}

/**
 * One request. Resolves to `{ data, serverNow }` where `serverNow` is the server's clock (from the
 * Date header, in ms) at the time of the answer, or null. Rejects with ApiError.
 */
export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  // Cookies ride along on every same-origin request, so a state change must prove it comes from
  // this page: a cross-site form cannot set this header.
  if (!SAFE_METHODS.has(method) && csrfToken) {
    headers['X-CSRF-Token'] = csrfToken;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, {
      code: 'network_error',
      detail: 'The server could not be reached. Check your connection and try again.',
    });
  }
  const date = Date.parse(response.headers.get('Date') || '');
  const serverNow = Number.isNaN(date) ? null : date;
  let data = null;
  const type = response.headers.get('Content-Type') || '';
  if (response.status !== 204 && /\bjson\b/.test(type)) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    const retry = Number.parseInt(response.headers.get('Retry-After') || '', 10);
    if (Number.isFinite(retry)) error.retryAfter = retry;
    throw error;
  }
  return { data, serverNow };
}
