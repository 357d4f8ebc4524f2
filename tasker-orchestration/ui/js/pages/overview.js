// Overview (/ui): tasks by state, completed and failed per minute over the last hour, queues, dead letters and
// the live workers. Refreshed every 5 s.

import { get } from '../api.js';
import { h, when } from '../dom.js';

const STATES = ['queued', 'scheduled', 'steps_in_process', 'complete', 'error', 'cancelled'];

export async function render(root) {
  let timer = null;
  let stopped = false;
  const draw = async () => {
    const o = await get('/v1/overview');
    if (stopped) return;
    root.replaceChildren(
      h('h1', {}, 'Overview'),
      h('div', { class: 'cards' }, STATES.map((state) => h('a', { class: 'card', href: `/ui/tasks?state=${state}`, 'data-link': true },
        h('div', { class: 'n', 'data-count': state }, String(o.tasks[state] || 0)),
        h('div', { class: 'label' }, state.replaceAll('_', ' ')))),
      h('a', { class: 'card', href: '/ui/dlq', 'data-link': true },
        h('div', { class: 'n', 'data-count': 'dead_letters' }, String(o.dead_letters)), h('div', { class: 'label' }, 'dead letters'))),
      h('h2', {}, 'Completed and failed per minute, last hour'),
      h('div', { class: 'panel' }, chart(o.per_minute)),
      h('div', { class: 'grid2' },
        h('div', {}, h('h2', {}, 'Queues'), queues(o.queues)),
        h('div', {}, h('h2', {}, 'Workers seen in the last 15 s'), workers(o.workers))));
  };
  await draw();
  const tick = () => { timer = setTimeout(() => draw().catch(() => {}).finally(() => { if (!stopped) tick(); }), 5000); };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function chart(perMinute) {
  const now = Date.now();
  const minutes = new Map(perMinute.map((m) => [Math.floor(new Date(m.minute).getTime() / 60000), m]));
  const first = Math.floor(now / 60000) - 59;
  const rows = Array.from({ length: 60 }, (_, i) => minutes.get(first + i) || { completed: 0, failed: 0 });
  const max = Math.max(1, ...rows.map((r) => r.completed + r.failed));
  const W = 900, H = 140, bar = W / 60;
  const bars = rows.flatMap((r, i) => {
    const hc = (r.completed / max) * (H - 20), hf = (r.failed / max) * (H - 20);
    return [
      h('rect', { class: 'completed', x: i * bar + 1, y: H - hc, width: bar - 2, height: hc },
        h('title', {}, `${r.completed} completed, ${r.failed} failed`)),
      h('rect', { class: 'failed', x: i * bar + 1, y: H - hc - hf, width: bar - 2, height: hf }),
    ];
  });
  const total = rows.reduce((a, r) => ({ c: a.c + r.completed, f: a.f + r.failed }), { c: 0, f: 0 });
  return h('div', {},
    h('svg', { class: 'chart', viewBox: `0 0 ${W} ${H + 14}`, preserveAspectRatio: 'none', 'data-chart': 'per-minute' },
      bars, h('text', { x: 0, y: H + 12 }, '60 min ago'), h('text', { x: W - 30, y: H + 12 }, 'now'),
      h('text', { x: 4, y: 10 }, `max ${max}/min`)),
    h('p', { class: 'muted' }, `${total.c} completed, ${total.f} failed in the last hour (tasks created in it)`));
}

function queues(all) {
  // Queues that hold nothing and that no worker serves (another language's, say) are only counted.
  const list = all.filter((q) => q.depth > 0 || q.consumers > 0);
  const idle = all.length - list.length;
  const note = idle ? h('p', { class: 'muted' }, `and ${idle} empty queue${idle === 1 ? '' : 's'} no live worker serves`) : '';
  if (!list.length) return h('div', {}, h('p', { class: 'muted' }, 'No step queue holds a message or has a worker.'), note);
  return h('div', {}, h('table', {},
    h('tr', {}, h('th', {}, 'Queue'), h('th', {}, 'Depth'), h('th', {}, 'Ready'), h('th', {}, 'Oldest'), h('th', {}, 'Workers')),
    list.map((q) => h('tr', { 'data-queue': q.queue },
      h('td', {}, q.queue, q.ready > 0 && q.consumers === 0 ? h('span', { class: 'badge state-error', title: 'steps wait and no live worker serves this queue' }, 'unserved') : ''),
      h('td', {}, String(q.depth)), h('td', {}, String(q.ready)),
      h('td', {}, q.oldest_age_seconds == null ? '—' : `${Math.round(q.oldest_age_seconds)} s`),
      h('td', {}, String(q.consumers))))), note);
}

function workers(list) {
  if (!list.length) return h('p', { class: 'muted' }, 'No live worker.');
  return h('table', {},
    h('tr', {}, h('th', {}, 'Worker'), h('th', {}, 'Language'), h('th', {}, 'Queues'), h('th', {}, 'Last seen')),
    list.map((w) => h('tr', { 'data-worker-id': w.worker_id },
      h('td', {}, w.worker_id, h('div', { class: 'muted' }, w.host)), h('td', {}, w.language),
      h('td', {}, w.queues.join(', ')), h('td', {}, when(w.last_seen_at)))));
}

