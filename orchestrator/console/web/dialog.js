// The confirmation every repair and pause asks for: a modal with what the
// action does, an optional extra field (e.g. the step to skip), a reason
// (recorded with the action) and an explicit "Confirm: <action>" button.

import {h} from './dom.js';

// Resolves with {reason, extra} (extra: the extra field's value), or null
// when the operator goes back.
export function confirmWithReason(title, explanation, {extra = null, required = true} = {}) {
  return new Promise((resolve) => {
    const reason = h('textarea', {name: 'reason', id: 'action-reason', required, rows: 3,
      placeholder: 'why (recorded with the action)'});
    const dialog = h('dialog', {class: 'confirm'});
    const finish = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.append(h('form', {onsubmit: (event) => {
      event.preventDefault();
      if (required && !reason.value.trim()) return;
      finish({reason: reason.value.trim(), extra: extra ? extra.value : ''});
    }},
    h('h2', {}, title), h('p', {}, explanation),
    extra ? h('label', {}, 'Step ', extra) : null,
    h('label', {for: 'action-reason'}, 'Reason'), reason,
    h('div', {class: 'buttons'},
        h('button', {type: 'button', onclick: () => finish(null)}, 'Back'),
        h('button', {type: 'submit', class: 'danger'}, `Confirm: ${title}`))));
    dialog.addEventListener('cancel', () => finish(null));
    document.body.append(dialog);
    dialog.showModal();
    reason.focus();
  });
}
