// Dead letters (/ui/dlq): failed tasks, newest failure first, with their failed steps and errors; retry, resolve
// and cancel from here.

import { get, post, query } from '../api.js';
import { confirmDialog, errorBox, h, link, shortId, when } from '../dom.js';
import { resolveDialog } from './resolve.js';

export async function render(root, _params, ctx) {
  const namespace = ctx.params.get('namespace') || '';
  const cursor = ctx.params.get('cursor') || '';
  const page = await get('/v1/dlq' + query({ namespace, cursor, limit: 50 }));
  let message = '';

  const act = async (path, body, question) => {
    if (question && !(await confirmDialog(question))) return;
    try {
      await post(path, body);
      ctx.refresh();
    } catch (error) {
      message = errorBox(error);
      draw();
    }
  };
  const draw = () => root.replaceChildren(
    h('h1', {}, 'Dead letters'),
    h('p', { class: 'muted' }, 'Tasks that failed: a step failed for good and nothing else can run.'),
    message,
    page.entries.length ? h('table', {},
      h('tr', {}, ['Task', 'Template', 'Failed', 'Failed steps', ''].map((c) => h('th', {}, c))),
      page.entries.map((entry) => h('tr', { 'data-task-uuid': entry.task_uuid },
        h('td', {}, link(`/ui/tasks/${entry.task_uuid}`, shortId(entry.task_uuid), { title: entry.task_uuid })),
        h('td', {}, `${entry.namespace}/${entry.name}`),
        h('td', {}, when(entry.failed_at)),
        h('td', {}, entry.steps.map((s) => h('div', { 'data-step-name': s.name },
          h('strong', {}, s.name), ` after ${s.attempts} attempt${s.attempts === 1 ? '' : 's'}: `,
          h('span', {}, (s.error && (s.error.error_class ? `${s.error.error_class}: ` : '') + (s.error.message || '')) || ''),
          ' ', h('button', { type: 'button', class: 'link', 'data-action': 'resolve',
            onclick: async () => {
              const result = await resolveDialog(s.name);
              if (result !== undefined) act(`/v1/tasks/${entry.task_uuid}/steps/${s.step_uuid}/resolve`, { result, reason: 'resolved from the dashboard' });
            } }, 'resolve…')))),
        h('td', {}, h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'primary', 'data-action': 'retry',
            onclick: () => act(`/v1/tasks/${entry.task_uuid}/retry`, { reason: 'retried from the dashboard' }, 'Run the failed steps of this task again?') }, 'Retry'),
          h('button', { type: 'button', class: 'danger', 'data-action': 'cancel',
            onclick: () => act(`/v1/tasks/${entry.task_uuid}/cancel`, { reason: 'cancelled from the dashboard' }, 'Cancel this task?') }, 'Cancel'))))))
      : h('p', { class: 'muted', 'data-empty': 'dlq' }, 'No dead letters.'),
    h('div', { class: 'pager' },
      cursor ? link('/ui/dlq' + query({ namespace }), '← Newest') : '',
      page.next_cursor ? link('/ui/dlq' + query({ namespace, cursor: page.next_cursor }), 'Older →') : ''));
  draw();
}
