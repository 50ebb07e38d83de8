// The pages that ask for your password again before they change the account itself, linked from
// the profile: the password (POST /auth/password/change: the other sessions end, this one goes
// on), the sign-in address (POST /auth/email/change: a link to the new address, nothing changes
// until it is used) and the account's deletion (POST /auth/account/delete, after a confirmation:
// every session ends). Five wrong passwords lock this session's attempts for a while
// (too_many_attempts), on all three alike: the server counts them per session.

import { confirmAction } from '../dialog.js';
import { field, h } from '../dom.js';
import { PASSWORD_HINT, describeError } from '../messages.js';
import * as session from '../session.js';

/**
 * The server's lockout of this session's password checks: `lockFor(seconds)` makes the button
 * wait it out, and hides the refusal that said until when once it is over.
 */
function lockout(submit, formError) {
  let timer = null;
  return {
    lockFor(seconds) {
      clearTimeout(timer);
      submit.disabled = true;
      timer = setTimeout(() => {
        submit.disabled = false;
        formError.hidden = true; // its "try again in…" is over
      }, Math.max(1, seconds) * 1000);
    },
    cancel() {
      clearTimeout(timer);
    },
  };
}

/** The address this session signs in with, as the server last said. */
function signInAddress() {
  return session.profile()?.email || session.user()?.email || '';
}

export function passwordPage() {
  const current = field({ id: 'current-password', label: 'Current password', type: 'password', autocomplete: 'current-password' });
  const next = field({
    id: 'new-password',
    label: 'New password',
    type: 'password',
    autocomplete: 'new-password',
    minlength: 8,
    maxlength: 128,
    hint: PASSWORD_HINT,
  });
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--primary button--block' }, 'Change password');
  const form = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit },
    formError,
    current.wrapper,
    next.wrapper,
    h(
      'div',
      { class: 'notice notice--warning', id: 'password-consequence' },
      h('p', { class: 'notice__title' }, 'Your other sessions will end'),
      h('p', {}, 'Every other browser and app signed in to your account is signed out at once. This one stays signed in.'),
    ),
    submit,
  );
  const lead = h('p', { class: 'lead' }, 'Choose a new password for your account.');
  const done = h('div', { class: 'notice', role: 'status', id: 'password-done', hidden: true });
  const lock = lockout(submit, formError);

  function idle() {
    submit.disabled = false;
    submit.textContent = 'Change password';
  }

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    current.setError('');
    next.setError('');
    const currentValue = current.input.value;
    const nextValue = next.input.value;
    if (!currentValue) {
      current.setError('Enter your current password.');
      current.input.focus();
      return;
    }
    if (nextValue.length < 8) {
      next.setError('Use at least 8 characters.');
      next.input.focus();
      return;
    }
    if (nextValue === currentValue) {
      next.setError('Choose a password different from the current one.');
      next.input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Changing…';
    try {
      await session.changePassword(currentValue, nextValue);
    } catch (error) {
      idle();
      if (error.code === 'wrong_password') {
        current.setError(describeError(error));
        current.input.select();
      } else if (error.code === 'weak_password') {
        next.setError(describeError(error));
        next.input.focus();
      } else if (error.name !== 'SessionEndedError') {
        // A session that ended routes to sign-in by itself, with its reason.
        formError.textContent = describeError(error);
        formError.hidden = false;
        if (error.code === 'too_many_attempts') lock.lockFor(error.retryAfter || 15);
      }
      return;
    }
    current.input.value = '';
    next.input.value = '';
    form.hidden = true;
    lead.hidden = true;
    done.replaceChildren(
      h('p', { class: 'notice__title' }, 'Your password was changed.'),
      h('p', {}, 'Every other session of your account was signed out; this one stays signed in. Use the new password the next time you sign in.'),
      h('p', {}, h('a', { href: '#/sessions' }, 'See where you are signed in'), ' · ', h('a', { href: '#/profile' }, 'Back to your profile')),
    );
    done.hidden = false;
  }

  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, 'Change your password'),
    lead,
    form,
    done,
  );
  return {
    node,
    cleanup() {
      lock.cancel();
    },
  };
}

/**
 * Change the sign-in address: the new one and the password again. The server mails a link to the
 * new address (24 hours) and changes nothing until it is used (#/confirm-email); the old address
 * is then told, with a link that undoes the change (#/undo-email).
 */
export function changeEmailPage() {
  const current = signInAddress();
  const newEmail = field({ id: 'new-email', label: 'New email address', type: 'email', autocomplete: 'email', inputmode: 'email' });
  const password = field({ id: 'current-password', label: 'Current password', type: 'password', autocomplete: 'current-password' });
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--primary button--block' }, 'Send the confirmation link');
  const form = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit },
    formError,
    newEmail.wrapper,
    password.wrapper,
    h(
      'div',
      { class: 'notice', id: 'email-consequence' },
      h('p', { class: 'notice__title' }, 'Nothing changes until you confirm'),
      h(
        'p',
        {},
        'We mail a link to the new address. Your sign-in address changes only when that link is opened and its button pressed; your current address is then told, with a link that undoes the change.',
      ),
    ),
    submit,
  );
  const lead = h(
    'p',
    { class: 'lead' },
    current ? ['Your sign-in address is ', h('strong', { class: 'address' }, current), '.'] : 'Choose a new sign-in address for your account.',
  );
  const done = h('div', { class: 'notice', role: 'status', id: 'email-sent', hidden: true });
  const lock = lockout(submit, formError);

  function idle() {
    submit.disabled = false;
    submit.textContent = 'Send the confirmation link';
  }

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    newEmail.setError('');
    password.setError('');
    const to = newEmail.input.value.trim();
    const passwordValue = password.input.value;
    if (!to) {
      newEmail.setError('Enter the new email address.');
      newEmail.input.focus();
      return;
    }
    if (!passwordValue) {
      password.setError('Enter your current password.');
      password.input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Sending…';
    try {
      await session.call('POST', '/auth/email/change', { new_email: to, password: passwordValue });
    } catch (error) {
      idle();
      if (error.code === 'wrong_password') {
        password.setError(describeError(error));
        password.input.select();
      } else if (error.code === 'invalid_email' || error.code === 'email_taken') {
        newEmail.setError(describeError(error, 'change-email'));
        newEmail.input.focus();
      } else if (error.name !== 'SessionEndedError') {
        // A session that ended routes to sign-in by itself, with its reason.
        formError.textContent = describeError(error, 'change-email');
        formError.hidden = false;
        if (error.code === 'too_many_attempts') lock.lockFor(error.retryAfter || 15);
      }
      return;
    }
    password.input.value = '';
    form.hidden = true;
    lead.hidden = true;
    done.replaceChildren(
      h('p', { class: 'notice__title' }, 'Check your mail at ', h('span', { class: 'address' }, to), '.'),
      h(
        'p',
        {},
        'We sent a link to that address. Your sign-in address changes only when the link is used: open it within 24 hours and press its button.',
      ),
      h('p', {}, current ? ['Until then, sign in with ', h('span', { class: 'address' }, current), ' as before.'] : 'Until then, sign in as before.'),
      h('p', {}, 'If nothing arrives within a few minutes, check the address and ask again.'),
      h('p', {}, h('a', { href: '#/profile' }, 'Back to your profile')),
    );
    done.hidden = false;
  }

  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, 'Change your email address'),
    lead,
    form,
    done,
  );
  return {
    node,
    cleanup() {
      lock.cancel();
    },
  };
}

/**
 * Delete the account: the password again, then a confirmation, then the call. On success the
 * session ends with the server's reason (account_deleted), so the shell shows the sign-in page
 * saying the account is gone; every other tab follows.
 */
export function deleteAccountPage() {
  const address = signInAddress();
  const password = field({
    id: 'delete-password',
    label: 'Password',
    type: 'password',
    autocomplete: 'current-password',
    hint: 'Your password again, to be sure it is you.',
  });
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--danger button--block' }, 'Delete my account');
  const form = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit },
    formError,
    h(
      'div',
      { class: 'notice notice--warning', id: 'delete-consequence' },
      h('p', { class: 'notice__title' }, 'This cannot be undone'),
      h(
        'p',
        {},
        'Your account and its todos are deleted, and every browser and app signed in to it is signed out at once. Nobody can bring them back, not even an administrator.',
      ),
    ),
    password.wrapper,
    submit,
  );
  const lead = h(
    'p',
    { class: 'lead' },
    address ? ['This deletes the account ', h('strong', { class: 'address' }, address), ' for good.'] : 'This deletes your account for good.',
  );
  const lock = lockout(submit, formError);

  function idle() {
    submit.disabled = false;
    submit.textContent = 'Delete my account';
  }

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    password.setError('');
    const passwordValue = password.input.value;
    if (!passwordValue) {
      password.setError('Enter your password.');
      password.input.focus();
      return;
    }
    const yes = await confirmAction({
      id: 'delete-account-dialog',
      title: 'Delete your account?',
      text: [
        h('p', {}, address ? `The account ${address} and its todos are deleted, and you are signed out everywhere.` : 'The account and its todos are deleted, and you are signed out everywhere.'),
        h('p', {}, 'This cannot be undone.'),
      ],
      confirm: 'Delete my account',
    });
    if (!yes) return;
    submit.disabled = true;
    submit.textContent = 'Deleting…';
    try {
      // Resolves once the session ended here: the shell has moved on to the sign-in page.
      await session.deleteAccount(passwordValue);
    } catch (error) {
      idle();
      if (error.code === 'wrong_password') {
        password.setError(describeError(error));
        password.input.select();
      } else if (error.name !== 'SessionEndedError') {
        formError.textContent = describeError(error, 'delete-account');
        formError.hidden = false;
        if (error.code === 'too_many_attempts') lock.lockFor(error.retryAfter || 15);
      }
    }
  }

  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, 'Delete your account'),
    lead,
    form,
  );
  return {
    node,
    cleanup() {
      lock.cancel();
    },
  };
}
