// The profile: the access token's claims (from /api/me, since the token is HttpOnly) with a line
// of plain language each, and a live countdown to the token's expiry.

import { clock, h } from '../dom.js';
import { describeError, inWords } from '../messages.js';
import { describeClaims } from '../claims.js';
import * as session from '../session.js';

export function profilePage() {
  const countdown = h('span', { class: 'countdown__value', id: 'countdown' }, '–:––');
  const bar = h('span', { class: 'meter__fill' });
  const meter = h('span', { class: 'meter', 'aria-hidden': 'true' }, bar);
  const expiryNote = h('p', { class: 'muted', id: 'expiry-note' });
  const claimsList = h('dl', { class: 'claims', id: 'claims' });
  const status = h('p', { class: 'muted', role: 'status', id: 'profile-status' });
  const heading = h('h1', { id: 'page-title' }, 'Your profile');
  const who = h('p', { class: 'lead' });
  const resendStatus = h('p', { role: 'status', id: 'resend-status' });
  // When the next link may be asked for; not a live region, or it would be read every second.
  const resendWait = h('p', { class: 'muted', id: 'resend-wait', hidden: true });
  const resendButton = h('button', { type: 'button', class: 'button button--quiet', id: 'resend-verification', onclick: resend }, 'Send the link again');
  const unconfirmed = h(
    'div',
    { class: 'notice', id: 'email-unconfirmed', hidden: true },
    h('p', { class: 'notice__title' }, 'Your email address is not confirmed yet.'),
    h('p', {}, 'We mailed you a link when you registered. Confirming lets you reset your password by email.'),
    resendButton,
    resendStatus,
    resendWait,
  );

  // The server says whether the mail went ("sent") or the ration held it back ("held"), and in
  // how many seconds the next one could go: the button waits that long, with a countdown.
  let waitTimer = null;
  function waitForNext(seconds) {
    clearInterval(waitTimer);
    const until = Date.now() + Math.max(0, Number(seconds) || 0) * 1000;
    const step = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left > 0) {
        resendButton.disabled = true;
        resendWait.textContent = `You can ask for another link in ${inWords(left)}.`;
      } else {
        clearInterval(waitTimer);
        resendButton.disabled = false;
        resendWait.textContent = 'You can ask for another link now.';
      }
    };
    resendWait.hidden = false;
    step();
    waitTimer = setInterval(step, 1000);
  }

  async function resend() {
    resendButton.disabled = true;
    resendWait.hidden = true;
    resendStatus.textContent = 'Sending…';
    let data;
    try {
      ({ data } = await session.call('POST', '/auth/email/verify/resend'));
    } catch (error) {
      resendStatus.textContent = `Could not send it. ${describeError(error)}`;
      resendButton.disabled = false;
      return;
    }
    const email = session.profile()?.email || 'your address';
    if (data?.status === 'sent') {
      resendStatus.textContent = `Sent to ${email}. Check your inbox: the link works once, for 24 hours.`;
      waitForNext(data.next_in_secs);
    } else if (data?.status === 'held') {
      resendStatus.textContent = `Not sent this time: mail to ${email} is rationed so that no one can flood an inbox, and its share is used up for now.`;
      waitForNext(data.next_in_secs);
    } else if (data?.status === 'already_verified') {
      resendStatus.textContent = 'Nothing to send: your address is already confirmed.';
      // The access token still says otherwise until it is renewed.
      session.refresh().then(() => session.loadProfile()).catch(() => {});
    } else {
      resendStatus.textContent = 'The server took the request but did not say whether the mail went.';
      resendButton.disabled = false;
    }
  }

  function renderProfile() {
    const profile = session.profile();
    who.textContent = profile?.email ? `Signed in as ${profile.email}.` : 'Signed in.';
    unconfirmed.hidden = profile?.email_verified !== false;
    claimsList.replaceChildren(
      ...describeClaims(profile).flatMap((claim) => [
        h('dt', {}, h('code', {}, claim.name)),
        h(
          'dd',
          { 'data-claim': claim.name },
          h('span', { class: claim.muted ? 'claims__value muted' : 'claims__value' }, claim.text),
          h('span', { class: 'claims__explain' }, claim.explanation),
        ),
      ]),
    );
  }

  // The bar's full width is the token's lifetime (or, after a page reload, what was left then).
  let lifetime = 0;
  function lifetimeSeconds() {
    const known = session.lifetimeMs() / 1000;
    if (known > 0) return known;
    if (!lifetime) lifetime = Math.max(1, (session.expiresAt() - Date.now()) / 1000);
    return lifetime;
  }

  function tick() {
    const remaining = (session.expiresAt() - Date.now()) / 1000;
    countdown.textContent = clock(remaining);
    bar.style.inlineSize = `${Math.min(100, Math.max(0, (remaining / lifetimeSeconds()) * 100))}%`;
    const at = new Date(session.expiresAt());
    expiryNote.textContent =
      remaining > 0
        ? `Expires at ${at.toLocaleTimeString()}. This page renews it shortly before then, while it is open.`
        : 'Expired. It will be renewed on your next action.';
  }

  async function reload() {
    status.textContent = 'Checking with the server…';
    try {
      await session.loadProfile();
      status.textContent = `Checked at ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      // A SessionEndedError routes to sign-in by itself; anything else is shown here.
      status.textContent = `Could not check. ${describeError(error)}`;
    }
  }

  const unsubscribe = session.onChange((event) => {
    if (event.detail.kind === 'refreshed') {
      tick();
      reload();
    } else if (event.detail.kind === 'profile') {
      renderProfile();
      tick();
    }
  });
  const timer = setInterval(tick, 1000);
  renderProfile();
  tick();

  const node = h(
    'div',
    { class: 'stack' },
    h(
      'section',
      { class: 'card' },
      heading,
      who,
      unconfirmed,
      h(
        'p',
        { class: 'profile-links' },
        h('a', { href: '#/password' }, 'Change your password'),
        h('a', { href: '#/email' }, 'Change your email address'),
        h('a', { href: '#/sessions' }, 'Where you are signed in'),
      ),
      // Apart from the rest, and in the colour of a destructive action.
      h('p', { class: 'profile-danger' }, h('a', { href: '#/delete-account', class: 'link--danger' }, 'Delete your account')),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'token-title' },
      h('h2', { id: 'token-title' }, 'Access token'),
      h(
        'p',
        { class: 'countdown' },
        h('span', { class: 'countdown__label' }, 'Expires in'),
        ' ',
        h('span', { role: 'timer', 'aria-live': 'off' }, countdown),
      ),
      meter,
      expiryNote,
      h(
        'p',
        { class: 'muted' },
        'The token sits in an HttpOnly cookie: the browser sends it, but no script, not even this page, can read it.',
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'claims-title' },
      h('div', { class: 'card__header' },
        h('h2', { id: 'claims-title' }, 'What the token says'),
        h('button', { type: 'button', class: 'button button--quiet', id: 'reload-profile', onclick: reload }, 'Check again'),
      ),
      claimsList,
      status,
    ),
  );

  return {
    node,
    cleanup() {
      clearInterval(timer);
      clearInterval(waitTimer);
      unsubscribe();
    },
  };
}
