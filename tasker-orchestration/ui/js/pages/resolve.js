// The resolve dialog: a JSON result for a failed step, parsed before it is sent.

import { h } from '../dom.js';

/** Resolves to the parsed result, or `undefined` when dismissed. */
export function resolveDialog(stepName) {
  const dialog = document.getElementById('dialog');
  return new Promise((resolve) => {
    const area = h('textarea', { name: 'result', 'data-field': 'result', spellcheck: 'false' }, '{\n  \n}');
    const problem = h('p', { class: 'error-box', hidden: true, role: 'alert' });
    const confirm = () => {
      try {
        const value = JSON.parse(area.value);
        dialog.close();
        resolve(value);
      } catch (e) {
        problem.hidden = false;
        problem.textContent = `Not JSON: ${e.message}`;
      }
    };
    dialog.replaceChildren(
      h('h2', { style: 'margin-top:0' }, `Resolve ${stepName}`),
      h('p', { class: 'muted' }, 'The step becomes resolved_manually with this result; its dependents read it and run.'),
      area, problem,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', 'data-action': 'confirm', onclick: confirm }, 'Resolve'),
        h('button', { type: 'button', 'data-action': 'dismiss', onclick: () => { dialog.close(); resolve(undefined); } }, 'Cancel')));
    dialog.showModal();
    area.focus();
  });
}
