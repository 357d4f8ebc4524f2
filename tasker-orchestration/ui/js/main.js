// The dashboard's shell: routes /ui/... to a page, keeps links in the page (history API), and asks for an API key
// when the server answers 401.

import { ApiError, apiKey } from './api.js';
import { h, errorBox } from './dom.js';
import * as overview from './pages/overview.js';
import * as tasks from './pages/tasks.js';
import * as task from './pages/task.js';
import * as dlq from './pages/dlq.js';
import * as templates from './pages/templates.js';
import * as schedules from './pages/schedules.js';

const ROUTES = [
  [/^\/ui\/?$/, overview, 'overview'],
  [/^\/ui\/tasks\/?$/, tasks, 'tasks'],
  [/^\/ui\/tasks\/([0-9a-fA-F-]{36})\/?$/, task, 'tasks'],
  [/^\/ui\/dlq\/?$/, dlq, 'dlq'],
  [/^\/ui\/templates\/?$/, templates, 'templates'],
  [/^\/ui\/schedules\/?$/, schedules, 'schedules'],
];

const root = document.getElementById('app');
let cleanup = null;

export function navigate(path) {
  history.pushState(null, '', path);
  render();
}

async function render() {
  if (cleanup) { cleanup(); cleanup = null; }
  const path = location.pathname;
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', !!route && a.dataset.nav === route[2]);
  }
  document.getElementById('forget-key').hidden = !apiKey.get();
  if (!route) {
    root.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'No dashboard page here. ', h('a', { href: '/ui', 'data-link': true }, 'Overview')));
    return;
  }
  const [pattern, page] = route;
  const params = path.match(pattern).slice(1);
  const ctx = { navigate, refresh: render, params: new URLSearchParams(location.search) };
  try {
    cleanup = (await page.render(root, params, ctx)) || null;
  } catch (error) {
    showError(error);
  }
}

/** 401 asks for a key; 403 says which permission is missing; anything else is shown as it is. */
export function showError(error) {
  if (error instanceof ApiError && error.status === 401) {
    const input = h('input', { type: 'password', name: 'api_key', autocomplete: 'off', size: 40, 'data-field': 'api-key' });
    const form = h('form', { class: 'panel', onsubmit: (e) => { e.preventDefault(); apiKey.set(input.value.trim()); render(); } },
      h('h1', {}, 'This server needs an API key'),
      h('p', { class: 'muted' }, apiKey.get() ? 'The key given was not accepted.' : 'It is kept in this browser tab only.'),
      h('label', {}, 'API key', input),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Use this key')));
    root.replaceChildren(form);
    input.focus();
    return;
  }
  if (error instanceof ApiError && error.status === 403) {
    root.replaceChildren(h('h1', {}, 'Not allowed'), errorBox(error),
      h('p', { class: 'muted' }, 'The API key in use lacks the permission this page needs.'));
    return;
  }
  root.replaceChildren(h('h1', {}, 'Something went wrong'), errorBox(error));
}

document.addEventListener('click', (event) => {
  const a = event.target.closest('a[data-link]');
  if (!a || event.metaKey || event.ctrlKey || event.shiftKey || a.target) return;
  event.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', render);
document.getElementById('forget-key').addEventListener('click', () => { apiKey.clear(); render(); });
render();
