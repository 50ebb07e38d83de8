// Every problem `code` the client can receive has a sentence written for a person in
// web/js/messages.js. The codes are read from the server's source, so a code added there without
// a sentence here fails this test: the `title()` arms and END_REASONS of
// crates/jwtgate/src/http/error.rs, and jwtgate-verify's `problem_title()` (missing_credentials,
// invalid_token, invalid_request, insufficient_scope, revocation_view_stale). The server's own refusal texts that carry
// what to fix (addresses, weak passwords, todo titles, plans, roles, throttles) are read there too
// and must come out framed in a sentence, never shown raw. No browser: Node imports the module.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MESSAGES, PAGE_MESSAGES, describeError, endMessage } from '../js/messages.js';
import { repoRoot } from './harness.mjs';

const source = (path) => readFileSync(join(repoRoot, path), 'utf8');
const errorRs = source('crates/jwtgate/src/http/error.rs');
const verifyRs = source('crates/jwtgate-verify/src/axum.rs');

/** The string-literal arms (`"code" =>`) of the Rust function `name` in `text`. */
function arms(text, name) {
  const start = text.indexOf(`fn ${name}(`);
  assert.ok(start >= 0, `fn ${name} not found`);
  const end = text.indexOf('\n}\n', start);
  return [...text.slice(start, end).matchAll(/"([a-z][a-z0-9_]*)"\s*=>/g)].map((m) => m[1]);
}

const TITLE_CODES = arms(errorRs, 'title');
const END_REASONS = [...(/pub const END_REASONS: &\[&str\] = &\[([\s\S]*?)\];/.exec(errorRs)?.[1] || '').matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
const LIBRARY_CODES = arms(verifyRs, 'problem_title');
const CLIENT_ONLY = ['network_error']; // ApiError(0): the request got no answer at all
const ALL = [...new Set([...TITLE_CODES, ...END_REASONS, ...LIBRARY_CODES, ...CLIENT_ONLY])].sort();

/** What a sentence for a person looks like: a capital, an end, no machine words. */
function assertPersonable(text, what) {
  assert.equal(typeof text, 'string', `${what}: a string`);
  assert.ok(text.length >= 20, `${what}: a whole sentence, not a label: ${JSON.stringify(text)}`);
  assert.match(text, /^[A-Z“"]/, `${what}: starts like a sentence: ${JSON.stringify(text)}`);
  assert.match(text, /[.!?]$/, `${what}: ends like a sentence: ${JSON.stringify(text)}`);
  assert.doesNotMatch(text, /\b[a-z]+_[a-z_]+\b/, `${what}: no snake_case code in it: ${JSON.stringify(text)}`);
}

describe('the codes read from the server', () => {
  test('are found, so the walk below is not vacuous', () => {
    assert.ok(TITLE_CODES.length >= 30, `title() arms: ${TITLE_CODES.join(', ')}`);
    assert.ok(END_REASONS.length >= 9, `END_REASONS: ${END_REASONS.join(', ')}`);
    for (const code of ['invalid_email', 'weak_password', 'too_many_attempts', 'last_admin', 'origin_not_allowed']) {
      assert.ok(TITLE_CODES.includes(code), `${code} among the title() arms`);
    }
    for (const code of ['logout', 'password_changed', 'session_limit', 'session_ended']) {
      assert.ok(END_REASONS.includes(code), `${code} among END_REASONS`);
    }
    assert.deepEqual([...LIBRARY_CODES].sort(), ['insufficient_scope', 'invalid_request', 'invalid_token', 'missing_credentials', 'revocation_view_stale']);
  });
});

describe('every code the client can receive', () => {
  for (const code of ALL) {
    test(`${code} has a sentence for a person`, () => {
      assert.ok(code in MESSAGES, `web/js/messages.js has no message for ${code}`);
      // A detail in the server's style, to be sure it is never echoed as it came.
      const raw = 'the request was refused for a reason written for machines';
      const text = describeError({ code, status: 400, detail: raw, retryAfter: 30, field: null });
      assertPersonable(text, code);
      assert.ok(!text.includes(raw), `${code}: the raw detail is not shown as it came: ${text}`);
      assert.ok(!text.includes(code), `${code}: the code itself is not shown`);
    });
  }

  test('a code nobody knows yet still gets a sentence, without the code', () => {
    const text = describeError({ code: 'brand_new_refusal', status: 409, detail: 'brand new refusal' });
    assertPersonable(text, 'an unknown code');
    assert.ok(!text.includes('brand'), text);
  });

  test("a page's own sentence for a code is about that page, and the code is one the server has", () => {
    for (const [page, sentences] of Object.entries(PAGE_MESSAGES)) {
      for (const code of Object.keys(sentences)) {
        assert.ok(ALL.includes(code), `${page}: ${code} is a code the server answers with`);
        const text = describeError({ code, status: 400, detail: 'raw' }, page);
        assertPersonable(text, `${page} ${code}`);
        assert.notEqual(text, describeError({ code, status: 400, detail: 'raw' }), `${page} ${code} differs from the general sentence`);
      }
    }
    // Elsewhere, and for the codes a page has no sentence of its own for, the general one.
    assert.equal(describeError({ code: 'wrong_password' }, 'delete-account'), MESSAGES.wrong_password);
    assert.equal(describeError({ code: 'email_taken' }), MESSAGES.email_taken);
  });

  test('every end reason has a notice of its own', () => {
    const generic = endMessage('session_ended').title;
    for (const code of END_REASONS.filter((c) => c !== 'session_ended')) {
      const notice = endMessage(code);
      assert.notEqual(notice.title, generic, `${code} has its own title`);
      assertPersonable(`${notice.title}. ${notice.text}`, `end notice ${code}`);
    }
  });
});

describe('details that carry what to fix are framed, never shown raw', () => {
  const strings = (path, pattern) => [...source(path).matchAll(pattern)].map((m) => m[1]);

  test('every address refusal of the server (domain/email.rs)', () => {
    const details = strings('crates/jwtgate/src/domain/email.rs', /InvalidEmail\(\s*"((?:[^"\\]|\\.)*)"/g).map((d) => d.replace(/\\\s+/g, ''));
    assert.ok(details.length >= 6, details.join(' | '));
    for (const detail of details) {
      const text = describeError({ code: 'invalid_email', status: 422, detail });
      assertPersonable(text, detail);
      assert.ok(!text.includes(detail), `framed, not raw: ${text}`);
      assert.doesNotMatch(text, /not valid:/, `a sentence of its own for "${detail}": ${text}`);
    }
  });

  test('an address change to the address it already is (domain/accounts.rs)', () => {
    const details = strings('crates/jwtgate/src/domain/accounts.rs', /InvalidEmail\(\s*"((?:[^"\\]|\\.)*)"/g);
    assert.deepEqual(details, ['that is already your sign-in address']);
    const text = describeError({ code: 'invalid_email', status: 422, detail: details[0] });
    assert.equal(text, 'This is already your sign-in address. Enter the new one.');
  });

  test('a weak password: its length rules and the guessability advice', () => {
    const rules = strings('crates/jwtgate/src/domain/password.rs', /#\[error\("(password must[^"]*)"\)\]/g);
    assert.deepEqual(rules, ['password must be at least 8 characters', 'password must be at most 128 characters']);
    assert.equal(describeError({ code: 'weak_password', detail: rules[0] }), 'Use at least 8 characters.');
    assert.equal(describeError({ code: 'weak_password', detail: rules[1] }), 'Use at most 128 characters.');
    assert.equal(
      describeError({ code: 'weak_password', detail: 'password is too easy to guess: This is a top-10 common password. Add another word or two. Uncommon words are better.' }),
      'This password is too easy to guess. This is a top-10 common password. Add another word or two. Uncommon words are better.',
    );
    assert.equal(describeError({ code: 'weak_password', detail: 'password is too easy to guess' }), 'This password is too easy to guess. Add a few unusual words.');
  });

  test('each lockout names its limit and the wait, in words', () => {
    const cases = {
      account: 'Too many failed sign-ins on this account. To keep guessers out, try again in 15 seconds.',
      ip: 'Too many failed sign-ins from your network address. To keep guessers out, try again in 15 seconds.',
      device: 'Too many failed sign-ins from this browser. To keep guessers out, try again in 15 seconds.',
      session: "Too many wrong current passwords on this session. For your account's safety, try again in 15 seconds.",
    };
    // The detail as the server writes it (http/error.rs), with Retry-After beside it.
    assert.match(errorRs, /"too many \{what\} for this \{which\}; the \{which\} limit resets in \{\} seconds"/);
    for (const [which, expected] of Object.entries(cases)) {
      const what = which === 'session' ? 'wrong current passwords' : 'failed logins';
      const detail = `too many ${what} for this ${which}; the ${which} limit resets in 15 seconds`;
      assert.equal(describeError({ code: 'too_many_attempts', status: 429, detail, retryAfter: 15 }), expected);
    }
    assert.equal(
      describeError({ code: 'too_many_attempts', status: 429, detail: 'too many failed logins for this account; the account limit resets in 900 seconds', retryAfter: 900 }),
      'Too many failed sign-ins on this account. To keep guessers out, try again in 15 minutes.',
    );
  });

  test('the rate limit names the plan and the wait', () => {
    assert.match(source('crates/jwtgate/src/http/ratelimit.rs'), /"the \{\} plan allows \{\} requests a minute; retry in \{\} seconds"/);
    assert.equal(
      describeError({ code: 'rate_limited', status: 429, detail: 'the free plan allows 60 requests a minute; retry in 12 seconds', retryAfter: 12 }),
      'You are going faster than your plan allows (the free plan allows 60 requests a minute). Please try again in 12 seconds.',
    );
  });

  test('invalid fields: a todo title, a plan, a role', () => {
    assert.match(source('crates/jwtgate/src/domain/todos.rs'), /"title must be 1 to \{MAX_TITLE_CHARS\} characters"/);
    assert.equal(
      describeError({ code: 'invalid_field', status: 422, field: 'title', detail: 'title must be 1 to 200 characters' }),
      "A todo's title must be 1 to 200 characters long.",
    );
    assert.equal(describeError({ code: 'invalid_field', status: 422, field: 'title', detail: 'title is required' }), 'Give the todo a title.');
    assert.equal(
      describeError({ code: 'invalid_field', status: 422, detail: 'plan must be one of: free, pro' }),
      'Choose one of the plans this server has: free, pro.',
    );
    assert.equal(
      describeError({ code: 'invalid_field', status: 422, detail: 'role "Support" is not a valid name (a lower-case letter, then up to 31 of a-z, 0-9, _ or -)' }),
      'The role “Support” is not a valid name: start with a lower-case letter, then use up to 31 of a to z, 0 to 9, _ or -.',
    );
    assert.equal(describeError({ code: 'invalid_field', status: 422, detail: 'at most 16 roles per user' }), 'A user can have at most 16 roles.');
  });

  test('refusing to change your own account, and the last administrator', () => {
    assert.equal(
      describeError({ code: 'cannot_modify_self', status: 409, detail: 'an administrator cannot remove their own admin role' }),
      'You cannot remove your own administrator role. Ask another administrator to do it.',
    );
    assert.equal(
      describeError({ code: 'cannot_modify_self', status: 409, detail: 'an administrator cannot disable their own account' }),
      'You cannot disable your own account. Ask another administrator to do it.',
    );
  });

  test('a 500 quotes its request id', () => {
    assert.equal(
      describeError({ code: 'internal_error', status: 500, requestId: 'abc123' }),
      'Something went wrong on the server. Try again in a moment; if it keeps happening, tell the administrator and quote the reference abc123.',
    );
  });
});
