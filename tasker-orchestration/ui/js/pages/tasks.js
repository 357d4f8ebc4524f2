// Tasks (/ui/tasks): filtered by namespace, template and state, newest first, paged on the server (cursor).

import { get, query } from '../api.js';
import { badge, h, link, shortId, when } from '../dom.js';

const STATES = ['', 'queued', 'scheduled', 'steps_in_process', 'complete', 'error', 'cancelled'];

export async function render(root, _params, ctx) {
  const p = ctx.params;
  const filters = { namespace: p.get('namespace') || '', name: p.get('name') || '', state: p.get('state') || '' };
  const cursor = p.get('cursor') || '';
  const page = await get('/v1/tasks' + query({ ...filters, cursor, limit: 50 }));
  const input = (name, label) => h('label', {}, label, h('input', { name, value: filters[name], size: 18 }));
  const form = h('form', {
    class: 'filters',
    onsubmit: (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(e.target));
      ctx.navigate('/ui/tasks' + query(data));
    },
  }, input('namespace', 'Namespace'), input('name', 'Template'),
  h('label', {}, 'State', h('select', { name: 'state' },
    STATES.map((s) => h('option', { value: s, selected: s === filters.state }, s || 'any')))),
  h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  const rows = page.tasks.map((t) => h('tr', {
    class: 'clickable', 'data-task-uuid': t.task_uuid,
    onclick: (e) => { if (!e.target.closest('a')) ctx.navigate(`/ui/tasks/${t.task_uuid}`); },
  }, h('td', {}, link(`/ui/tasks/${t.task_uuid}`, shortId(t.task_uuid), { title: t.task_uuid })),
  h('td', {}, `${t.namespace}/${t.name}`, h('span', { class: 'muted' }, ` ${t.version}`)),
  h('td', {}, badge(t.state)),
  h('td', {}, Object.entries(t.step_counts || {}).map(([s, n]) => `${n} ${s.replaceAll('_', ' ')}`).join(', ')),
  h('td', {}, String(t.priority)), h('td', {}, when(t.created_at))));
  const next = page.next_cursor
    ? link('/ui/tasks' + query({ ...filters, cursor: page.next_cursor }), 'Older →', { 'data-page': 'next' }) : '';
  const first = cursor ? link('/ui/tasks' + query(filters), '← Newest', { 'data-page': 'first' }) : '';
  root.replaceChildren(h('h1', {}, 'Tasks'), form,
    page.tasks.length
      ? h('table', {}, h('tr', {}, ['Task', 'Template', 'State', 'Steps', 'Priority', 'Created'].map((c) => h('th', {}, c))), rows)
      : h('p', { class: 'muted' }, 'No task matches.'),
    h('div', { class: 'pager' }, first, next));
}
