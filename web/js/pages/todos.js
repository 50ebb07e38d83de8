// Your todos (/api/todos): list, add, tick off, rename, delete. A 422 names the `field` it is
// about, and the message is shown next to that field.

import { field, h } from '../dom.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

export function todosPage() {
  const title = field({ id: 'todo-title', label: 'New todo', autocomplete: 'off', maxlength: 200 });
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const list = h('ul', { class: 'stack', id: 'todo-list', 'aria-label': 'Your todos' });
  const status = h('p', { class: 'muted', role: 'status', id: 'todos-status' });
  const add = h('button', { type: 'submit', class: 'button button--primary' }, 'Add');
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Add a todo', onsubmit: onAdd }, formError, title.wrapper, add);

  function showError(error, fieldHandle) {
    if (error.status === 422 && fieldHandle && (!error.field || error.field === 'title')) {
      fieldHandle.setError(describeError(error));
      fieldHandle.input.focus();
    } else {
      formError.textContent = describeError(error);
      formError.hidden = false;
    }
  }

  function row(todo) {
    const id = `todo-${todo.id}`;
    const check = h('input', { type: 'checkbox', id: `${id}-done`, checked: todo.done, onchange: toggle });
    const label = h('label', { for: `${id}-done` }, todo.title);
    const edit = h('button', { type: 'button', class: 'button button--quiet', 'aria-label': `Edit ${todo.title}`, onclick: startEdit }, 'Edit');
    const remove = h('button', { type: 'button', class: 'button button--quiet', 'aria-label': `Delete ${todo.title}`, onclick: del }, 'Delete');
    const view = h('div', { class: 'card__header' }, h('span', {}, check, ' ', label), h('span', {}, edit, ' ', remove));
    const item = h('li', { class: 'card', 'data-todo': todo.id }, view);

    async function toggle() {
      check.disabled = true;
      try {
        await session.call('PATCH', `/api/todos/${encodeURIComponent(todo.id)}`, { done: check.checked });
        todo.done = check.checked;
      } catch (error) {
        check.checked = todo.done;
        showError(error);
      }
      check.disabled = false;
    }

    async function del() {
      remove.disabled = true;
      try {
        await session.call('DELETE', `/api/todos/${encodeURIComponent(todo.id)}`);
        item.remove();
        status.textContent = `Deleted “${todo.title}”.`;
      } catch (error) {
        remove.disabled = false;
        showError(error);
      }
    }

    function startEdit() {
      const input = field({ id: `${id}-title`, label: 'Title', autocomplete: 'off', maxlength: 200, value: todo.title });
      const save = h('button', { type: 'submit', class: 'button button--primary' }, 'Save');
      const cancel = h('button', { type: 'button', class: 'button button--quiet', onclick: stop }, 'Cancel');
      const editForm = h('form', { class: 'form', novalidate: true, 'aria-label': `Edit ${todo.title}`, onsubmit: onSave }, input.wrapper, h('p', {}, save, ' ', cancel));
      function stop() {
        editForm.replaceWith(view);
        edit.focus();
      }
      async function onSave(event) {
        event.preventDefault();
        input.setError('');
        save.disabled = true;
        try {
          const { data } = await session.call('PATCH', `/api/todos/${encodeURIComponent(todo.id)}`, { title: input.input.value });
          todo.title = data.todo.title;
          label.textContent = todo.title;
          edit.setAttribute('aria-label', `Edit ${todo.title}`);
          remove.setAttribute('aria-label', `Delete ${todo.title}`);
          stop();
        } catch (error) {
          save.disabled = false;
          showError(error, input);
        }
      }
      view.replaceWith(editForm);
      input.input.focus();
    }
    return item;
  }

  async function onAdd(event) {
    event.preventDefault();
    formError.hidden = true;
    title.setError('');
    status.textContent = '';
    add.disabled = true;
    try {
      const { data } = await session.call('POST', '/api/todos', { title: title.input.value });
      list.append(row(data.todo));
      title.input.value = '';
      status.textContent = `Added “${data.todo.title}”.`;
    } catch (error) {
      showError(error, title);
    }
    add.disabled = false;
  }

  async function load() {
    try {
      const { data } = await session.call('GET', '/api/todos');
      list.replaceChildren(...(data?.todos || []).map(row));
      status.textContent = data?.todos?.length ? '' : 'Nothing to do yet.';
    } catch (error) {
      status.textContent = `Could not load your todos. ${describeError(error)}`;
    }
  }

  load();
  const node = h(
    'div',
    { class: 'stack' },
    h('section', { class: 'card' }, h('h1', { id: 'page-title' }, 'Your todos'), form, status),
    list,
  );
  return { node };
}
