// One task (/ui/tasks/{uuid}): its DAG, live from the task's event stream; a step's attempts, result, error,
// checkpoint and timeline; cancel, retry and resolve.

import { follow, get, post } from '../api.js';
import { badge, confirmDialog, errorBox, h, jsonBlock, when } from '../dom.js';
import { drawDag } from '../dag.js';
import { resolveDialog } from './resolve.js';

const TERMINAL = new Set(['complete', 'error', 'cancelled', 'resolved_manually']);

export async function render(root, [uuid], ctx) {
  let task = await get(`/v1/tasks/${uuid}`);
  let selected = null;
  const timeline = new Map();
  let stopped = false;
  let message = null;
  const controller = new AbortController();

  const draw = () => {
    if (stopped) return;
    const step = task.steps.find((s) => s.name === selected);
    root.replaceChildren(
      h('h1', {}, `${task.namespace}/${task.name} `, h('span', { class: 'muted' }, task.version), ' ',
        h('span', { 'data-task-state': task.state }, badge(task.state))),
      message || '',
      h('div', { class: 'actions' },
        !TERMINAL.has(task.state) || task.state === 'error'
          ? h('button', { type: 'button', class: 'danger', 'data-action': 'cancel', onclick: () => act('cancel') }, 'Cancel task') : '',
        task.state === 'error'
          ? h('button', { type: 'button', class: 'primary', 'data-action': 'retry', onclick: () => act('retry') }, 'Retry failed steps') : ''),
      h('div', { class: 'task-layout' },
        h('div', {},
          h('div', { class: 'dag', 'data-dag': task.task_uuid }, drawDag(task.steps, (name) => { selected = name; draw(); }, selected)),
          h('h2', {}, 'Task'),
          h('dl', { class: 'kv panel' },
            h('dt', {}, 'uuid'), h('dd', {}, task.task_uuid),
            h('dt', {}, 'created'), h('dd', {}, when(task.created_at)),
            h('dt', {}, 'completed'), h('dd', {}, when(task.completed_at)),
            h('dt', {}, 'priority'), h('dd', {}, String(task.priority)),
            task.run_at ? [h('dt', {}, 'run at'), h('dd', {}, when(task.run_at))] : '',
            task.idempotency_key ? [h('dt', {}, 'idempotency key'), h('dd', {}, task.idempotency_key)] : '',
            task.tags && task.tags.length ? [h('dt', {}, 'tags'), h('dd', {}, task.tags.join(', '))] : ''),
          h('h2', {}, 'Context'), jsonBlock(task.context)),
        h('aside', { class: 'panel', 'data-step-panel': selected || '' },
          step ? stepPanel(step) : h('p', { class: 'muted' }, 'Click a step to see its attempts, result, error and timeline.'))));
  };

  const stepPanel = (s) => h('div', {},
    h('h2', { style: 'margin-top:0' }, s.name, ' ', badge(s.state)),
    h('dl', { class: 'kv' },
      h('dt', {}, 'handler'), h('dd', {}, s.handler),
      h('dt', {}, 'type'), h('dd', {}, s.type || 'standard'),
      h('dt', {}, 'queue'), h('dd', {}, s.queue),
      h('dt', {}, 'attempts'), h('dd', { 'data-attempts': s.attempts }, `${s.attempts} of ${s.max_attempts}`),
      h('dt', {}, 'worker'), h('dd', {}, s.worker_id || '—'),
      h('dt', {}, 'started'), h('dd', {}, when(s.started_at)),
      h('dt', {}, 'next attempt'), h('dd', {}, when(s.next_attempt_at)),
      s.reason ? [h('dt', {}, 'reason'), h('dd', {}, s.reason)] : ''),
    ['error', 'waiting_for_retry'].includes(s.state) && !['cancelled', 'complete'].includes(task.state)
      ? h('div', { class: 'actions' }, h('button', { type: 'button', 'data-action': 'resolve', onclick: () => resolve(s) }, 'Resolve with a result…')) : '',
    s.result !== null && s.result !== undefined ? [h('h2', {}, 'Result'), jsonBlock(s.result)] : '',
    s.error ? [h('h2', {}, 'Error'), errorDetails(s.error)] : '',
    s.attempt_errors && s.attempt_errors.length > 1
      ? [h('h2', {}, 'Earlier attempts'), s.attempt_errors.map((e) => errorDetails(e))] : '',
    s.checkpoint ? [h('h2', {}, 'Checkpoint'), jsonBlock(s.checkpoint)] : '',
    s.batch ? [h('h2', {}, 'Batch item'), jsonBlock(s.batch)] : '',
    h('h2', {}, 'Timeline'),
    h('ul', { class: 'timeline' }, (timeline.get(s.name) || []).map((e) =>
      h('li', {}, when(e.at), ` ${e.from_state || 'new'} → ${e.to_state}`, e.reason ? h('span', { class: 'muted' }, ` (${e.reason})`) : ''))));

  const reload = async () => { task = await get(`/v1/tasks/${uuid}`); draw(); };
  let pending = null;
  const soon = () => { if (!pending) pending = setTimeout(() => { pending = null; reload().catch(() => {}); }, 150); };

  const act = async (action) => {
    const words = { cancel: 'Cancel this task? Its unfinished steps will not run.', retry: 'Run the failed steps again?' };
    if (!(await confirmDialog(words[action]))) return;
    try {
      task = await post(`/v1/tasks/${uuid}/${action}`, { reason: `${action} from the dashboard` });
      message = null;
      follow_();
    } catch (error) { message = errorBox(error); }
    draw();
  };
  const resolve = async (s) => {
    const result = await resolveDialog(s.name);
    if (result === undefined) return;
    try {
      task = await post(`/v1/tasks/${uuid}/steps/${s.step_uuid}/resolve`, { result, reason: 'resolved from the dashboard' });
      message = null;
      follow_();
    } catch (error) { message = errorBox(error); }
    draw();
  };

  // The stream replays the task's history, then follows it live; it ends after the task's final event. An action
  // that reopens the task starts it again.
  let following = false;
  const follow_ = () => {
    if (following || stopped) return;
    following = true;
    timeline.clear();
    follow(`/v1/tasks/${uuid}/events`, (kind, e) => {
      if (kind === 'step' && e.step_name) {
        if (!timeline.has(e.step_name)) timeline.set(e.step_name, []);
        timeline.get(e.step_name).push(e);
      }
      soon();
    }, controller.signal).catch(() => {}).finally(() => { following = false; soon(); });
  };

  draw();
  follow_();
  return () => { stopped = true; controller.abort(); clearTimeout(pending); };
}

function errorDetails(error) {
  return h('div', { class: 'error-box', 'data-error': error.error_class || 'error' },
    h('strong', {}, error.error_class || 'Error'), error.attempt ? ` (attempt ${error.attempt})` : '', ': ',
    error.message || '',
    error.backtrace ? h('pre', {}, Array.isArray(error.backtrace) ? error.backtrace.join('\n') : String(error.backtrace)) : '');
}
