// "Send the link again" for someone who cannot sign in yet because their address is not
// confirmed (POST /auth/email/verify/resend with {email}). The server answers the same whatever
// the address and however its mail ration stands, so the page says only what it knows: that a
// link was asked for.

import { h } from '../dom.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

export function resendLinkControl(email) {
  const status = h('p', { role: 'status', id: 'resend-link-status' });
  const button = h('button', { type: 'button', class: 'button button--quiet', id: 'resend-link', onclick: send }, 'Send the link again');

  async function send() {
    button.disabled = true;
    status.textContent = 'Asking…';
    try {
      await session.resendLinkTo(email);
      status.textContent =
        `Asked for a new link to ${email}. If an account there is waiting to be confirmed, it arrives in a few minutes. ` +
        'Mail is rationed, so asking again right away sends nothing more.';
    } catch (error) {
      status.textContent = `Could not ask for it. ${describeError(error)}`;
    } finally {
      button.disabled = false;
    }
  }

  return h('div', { class: 'resend' }, button, status);
}
