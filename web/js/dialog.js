// A confirmation before a destructive action: a modal <dialog> that says what will happen, with
// Cancel first (and focused, so Enter on a hurried keyboard does nothing harmful). Escape, Cancel
// and a click outside all mean no. Focus goes back to the control that asked.

import { h } from './dom.js';

/**
 * Resolves to true only when the person pressed `confirm`. `text` may be a string or nodes.
 * The dialog is added to the page for the question and removed once answered.
 */
export function confirmAction({ title, text, confirm, id = 'confirm-dialog' }) {
  const opener = document.activeElement;
  const titleId = `${id}-title`;
  const textId = `${id}-text`;
  const cancelButton = h('button', { type: 'submit', value: 'cancel', class: 'button button--quiet', autofocus: true }, 'Cancel');
  const confirmButton = h('button', { type: 'submit', value: 'confirm', class: 'button button--danger' }, confirm);
  const dialog = h(
    'dialog',
    { class: 'dialog', id, 'aria-labelledby': titleId, 'aria-describedby': textId },
    h(
      'form',
      { method: 'dialog', class: 'dialog__form' },
      h('h2', { id: titleId }, title),
      h('div', { id: textId, class: 'dialog__text' }, ...(Array.isArray(text) ? text : [h('p', {}, text)])),
      h('div', { class: 'actions dialog__actions' }, cancelButton, confirmButton),
    ),
  );
  // A click on the backdrop (the dialog itself, outside its form) is a no.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close('cancel');
  });
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        const yes = dialog.returnValue === 'confirm';
        dialog.remove();
        if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
        resolve(yes);
      },
      { once: true },
    );
    dialog.showModal();
    cancelButton.focus();
  });
}
