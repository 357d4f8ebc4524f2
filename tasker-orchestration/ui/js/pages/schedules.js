// Schedules (/ui/schedules): cron schedules with their next fire time and last fires; pause and resume.

import { api, get } from '../api.js';
import { badge, errorBox, h, link, shortId, when } from '../dom.js';

export async function render(root, _params, ctx) {
  const { schedules } = await get('/v1/schedules');
  const details = await Promise.all(schedules.map((s) => get(`/v1/schedules/${s.schedule_id}`)));
  let message = '';
  const toggle = async (s) => {
    try {
      await api('PATCH', `/v1/schedules/${s.schedule_id}`, { paused: !s.paused });
      ctx.refresh();
    } catch (error) { message = errorBox(error); draw(); }
  };
  const draw = () => root.replaceChildren(
    h('h1', {}, 'Schedules'), message,
    details.length ? h('table', {},
      h('tr', {}, ['Template', 'Cron', 'Next fire', 'Last fires', ''].map((c) => h('th', {}, c))),
      details.map((s) => h('tr', { 'data-schedule-id': s.schedule_id },
        h('td', {}, `${s.namespace}/${s.name}`, h('div', { class: 'muted' }, s.source)),
        h('td', {}, h('code', {}, s.cron), h('div', { class: 'muted' }, s.timezone)),
        h('td', {}, s.paused ? badge('paused') : when(s.next_fire_at)),
        h('td', {}, (s.fires || []).slice(0, 5).map((f) => h('div', {}, when(f.fire_time), ' ',
          f.task_uuid ? link(`/ui/tasks/${f.task_uuid}`, shortId(f.task_uuid)) : h('span', { class: 'muted' }, f.skipped ? 'skipped' : '—')))),
        h('td', {}, h('button', { type: 'button', 'data-action': s.paused ? 'resume' : 'pause', onclick: () => toggle(s) }, s.paused ? 'Resume' : 'Pause')))))
      : h('p', { class: 'muted' }, 'No schedule. Create one with POST /v1/schedules or a template\'s schedules:.'));
  draw();
}
