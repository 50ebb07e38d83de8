// The "Apps" section of the administration page (#/admin): the OAuth client registry
// (/api/admin/clients, the `admin` role only). It lists the registered apps, registers one
// (a confidential app's secret is shown once, in a read-only field to copy, with a warning that it
// will not be shown again: only its hash is kept), and removes one after a confirmation. The
// built-in web client (this page, client_id `jwtgate`) is part of the server and not listed.
// The server checks every rule; a refusal is shown next to the field it names.

import { confirmAction } from '../dialog.js';
import { field, h } from '../dom.js';
import { eventTime } from '../events.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

const GRANTS = [
  ['authorization_code', 'Authorization code (people sign in through this server)'],
  ['refresh_token', 'Refresh token (stays signed in)'],
  ['client_credentials', 'Client credentials (the app acts as itself; confidential apps only)'],
];
const DEFAULT_GRANTS = ['authorization_code', 'refresh_token'];

/** A fieldset of checkboxes or radio buttons, with an error slot like field()'s. */
function choices({ id, legend, type, options, checked }) {
  const error = h('p', { class: 'field__error', id: `${id}-error`, hidden: true });
  const boxes = options.map(([value, label]) =>
    h(
      'label',
      { class: 'check', for: `${id}-${value}` },
      h('input', { type, id: `${id}-${value}`, name: id, value, checked: checked.includes(value) }),
      ' ',
      label,
    ),
  );
  const wrapper = h(
    'fieldset',
    { class: 'checks-field', id, 'aria-describedby': `${id}-error` },
    h('legend', {}, legend),
    h('div', { class: 'checks' }, ...boxes),
    error,
  );
  return {
    wrapper,
    values: () => boxes.map((box) => box.querySelector('input')).filter((input) => input.checked).map((input) => input.value),
    reset: () => boxes.forEach((box) => {
      const input = box.querySelector('input');
      input.checked = checked.includes(input.value);
    }),
    setError(message) {
      error.textContent = message || '';
      error.hidden = !message;
    },
  };
}

/** The section, loaded at once; `onChange` runs after an app is added or removed (the audit log). */
export function clientsSection({ onChange = () => {} } = {}) {
  const status = h('p', { class: 'muted', role: 'status', id: 'clients-status' });
  const rows = h('tbody', {});
  const table = h(
    'table',
    { class: 'table', id: 'admin-clients' },
    h('caption', { class: 'visually-hidden' }, 'Apps'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Name', 'Client ID', 'Kind', 'Redirect URIs', 'Created'].map((label) => h('th', { scope: 'col' }, label)),
        // The buttons' column: named for screen readers, empty on screen.
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
      ),
    ),
    rows,
  );
  const note = h('div', { class: 'notice', role: 'status', id: 'clients-note', hidden: true });

  function say(text, tone = 'info') {
    note.className = `notice${tone === 'error' ? ' notice--error' : ''}`;
    note.replaceChildren(...(Array.isArray(text) ? text : [text]));
    note.hidden = !text || (Array.isArray(text) && text.length === 0);
  }

  function row(client) {
    const remove = h('button', { type: 'button', class: 'button button--danger button--small', onclick: () => onRemove(client, remove) }, 'Remove');
    return h(
      'tr',
      { 'data-client': client.client_id },
      h('td', { 'data-label': 'Name' }, client.name, client.first_party ? h('span', { class: 'badge badge--on' }, ' first party') : null),
      h('td', { 'data-label': 'Client ID' }, h('code', {}, client.client_id)),
      h('td', { 'data-label': 'Kind' }, client.kind === 'public' ? 'Public' : 'Confidential'),
      h('td', { 'data-label': 'Redirect URIs', class: client.redirect_uris.length ? 'table__uris' : 'muted' }, client.redirect_uris.length ? client.redirect_uris.join('\n') : 'none'),
      h('td', { 'data-label': 'Created' }, eventTime(client.created_at)),
      h('td', {}, remove),
    );
  }

  async function load() {
    status.textContent = 'Loading apps…';
    try {
      const { data } = await session.call('GET', '/api/admin/clients');
      rows.replaceChildren(...data.clients.map(row));
      table.hidden = data.clients.length === 0;
      const n = data.clients.length;
      status.textContent = n ? `${n} app${n === 1 ? '' : 's'} registered.` : 'No apps registered yet.';
    } catch (error) {
      status.textContent = `Could not load the apps. ${describeError(error)}`;
    }
  }

  async function onRemove(client, button) {
    const yes = await confirmAction({
      title: `Remove ${client.name}?`,
      text: [
        h('p', {}, `The app with client ID ${client.client_id} can no longer sign anyone in through this server, and its secret stops working.`),
        h('p', {}, 'Registering it again gives it a new client ID and secret.'),
      ],
      confirm: 'Remove app',
    });
    if (!yes) return;
    button.disabled = true;
    try {
      await session.call('DELETE', `/api/admin/clients/${encodeURIComponent(client.client_id)}`);
      say(`${client.name} is removed.`);
      await load();
      onChange();
    } catch (error) {
      say(error.code === 'client_not_found' ? `${client.name} was already removed.` : describeError(error), 'error');
      await load();
    }
    button.disabled = false;
  }

  // --- registering an app ------------------------------------------------------------------------

  const name = field({ id: 'client-name', label: 'Name', autocomplete: 'off', hint: 'What people see when the app asks them to sign in, such as Orders dashboard.' });
  const urisHint = 'One per line: https, or http on 127.0.0.1, [::1] or localhost; no #fragment. Kept exactly as written: the app must send the same.';
  const urisInput = h('textarea', { id: 'client-uris', name: 'client-uris', rows: 3, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'client-uris-hint client-uris-error' });
  const urisError = h('p', { class: 'field__error', id: 'client-uris-error', hidden: true });
  const uris = {
    wrapper: h('div', { class: 'field' }, h('label', { for: 'client-uris' }, 'Redirect URIs'), h('p', { class: 'field__hint', id: 'client-uris-hint' }, urisHint), urisInput, urisError),
    input: urisInput,
    setError(message) {
      urisError.textContent = message || '';
      urisError.hidden = !message;
      if (message) urisInput.setAttribute('aria-invalid', 'true');
      else urisInput.removeAttribute('aria-invalid');
    },
  };
  const kind = choices({
    id: 'client-kind',
    legend: 'Kind',
    type: 'radio',
    options: [
      ['confidential', 'Confidential: a server-side app that can keep a secret (it gets one)'],
      ['public', 'Public: a browser or mobile app that cannot keep a secret (none; PKCE only)'],
    ],
    checked: ['confidential'],
  });
  const grants = choices({ id: 'client-grants', legend: 'Grants', type: 'checkbox', options: GRANTS, checked: DEFAULT_GRANTS });
  const firstParty = h('input', { type: 'checkbox', id: 'client-first-party', name: 'client-first-party' });
  const submit = h('button', { type: 'submit', class: 'button button--primary' }, 'Register app');
  const formNote = h('div', { class: 'notice', role: 'status', id: 'client-form-note', hidden: true });
  const form = h(
    'form',
    { class: 'form', novalidate: true, id: 'client-form', 'aria-labelledby': 'client-form-title', onsubmit: onAdd },
    h('h3', { id: 'client-form-title' }, 'Register an app'),
    name.wrapper,
    uris.wrapper,
    kind.wrapper,
    grants.wrapper,
    h('label', { class: 'check', for: 'client-first-party' }, firstParty, ' First party: your own app, which may skip the consent screen'),
    h('div', { class: 'actions' }, submit),
    formNote,
  );
  const fields = { name, redirect_uris: uris, kind, grants };

  /** The new app's client ID, and its secret this once, to copy. */
  function shown(added) {
    const copyable = (id, label, value) => {
      const input = h('input', { id, type: 'text', readonly: true, value, spellcheck: 'false', onfocus: (e) => e.target.select() });
      const copy = h('button', { type: 'button', class: 'button button--quiet', onclick: () => copyValue(input, copy) }, 'Copy');
      return h('div', { class: 'field' }, h('label', { for: id }, label), h('div', { class: 'copy' }, input, copy));
    };
    const parts = [
      h('p', { class: 'notice__title' }, `${added.name} is registered.`),
      copyable('client-new-id', 'Client ID', added.client_id),
    ];
    if (added.client_secret) {
      parts.push(
        copyable('client-new-secret', 'Client secret', added.client_secret),
        h('p', { id: 'client-secret-warning' }, 'Copy the secret now and keep it somewhere safe: it will not be shown again. Only its fingerprint is kept on the server; if it is lost, remove the app and register it again.'),
      );
    } else {
      parts.push(h('p', {}, 'A public app has no secret.'));
    }
    formNote.className = `notice${added.client_secret ? ' notice--warning' : ''}`;
    formNote.replaceChildren(...parts);
    formNote.hidden = false;
  }

  async function copyValue(input, button) {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Select and copy';
    }
  }

  async function onAdd(event) {
    event.preventDefault();
    for (const handle of Object.values(fields)) handle.setError('');
    formNote.hidden = true;
    say('');
    const body = {
      name: name.input.value,
      kind: kind.values()[0] || 'confidential',
      redirect_uris: urisInput.value.split('\n').map((line) => line.trim()).filter(Boolean),
      grants: grants.values(),
      first_party: firstParty.checked,
    };
    submit.disabled = true;
    try {
      const { data } = await session.call('POST', '/api/admin/clients', body);
      shown(data);
      form.reset();
      kind.reset();
      grants.reset();
      await load();
      onChange();
    } catch (error) {
      const handle = error.code === 'invalid_field' ? fields[error.field] : null;
      if (handle) {
        handle.setError(describeError(error));
        (handle.input || handle.wrapper.querySelector('input'))?.focus();
      } else {
        formNote.className = 'notice notice--error';
        formNote.replaceChildren(describeError(error));
        formNote.hidden = false;
      }
    }
    submit.disabled = false;
  }

  load();
  const node = h(
    'section',
    { class: 'card', 'aria-labelledby': 'clients-title', id: 'clients' },
    h('h2', { id: 'clients-title' }, 'Apps (OAuth clients)'),
    h(
      'p',
      { class: 'lead' },
      'Applications that will sign people in through this server once its OpenID Connect provider is on. This page is the built-in web client and is not listed.',
    ),
    status,
    h('div', { class: 'table-wrap' }, table),
    note,
    form,
  );
  return { node };
}
