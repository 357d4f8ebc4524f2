// The dashboard end to end: a real tasker-server and worker (started by scripts/ui_test.sh, at TASKER_URL),
// Debian's Chromium driven by playwright-core. Each test saves a screenshot of the page it checks.

import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chromium } from 'playwright-core';

const base = process.env.TASKER_URL;
const shots = process.env.SCREENSHOTS || '.';
let browser;
let page;
const pageErrors = [];

async function api(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return data;
}

async function createTask(namespace, name, context) {
  return api('POST', '/v1/tasks', { namespace, name, context });
}

/** Poll `check` (async, truthy when done) every 100 ms for up to `seconds`. */
async function eventually(what, check, seconds = 20) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const taskState = async (uuid) => (await api('GET', `/v1/tasks/${uuid}`)).state;

async function shot(name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

before(async () => {
  assert.ok(base, 'TASKER_URL is set (scripts/ui_test.sh)');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.on('pageerror', (error) => pageErrors.push(error));
});

afterEach(() => {
  assert.deepEqual(pageErrors.splice(0).map(String), [], 'the page threw no error');
});

after(async () => {
  await browser?.close();
});

test('the overview shows the task counts, queues and workers', async () => {
  const created = await Promise.all([2, 4, 6].map((n) => createTask('linear_workflow', 'mathematical_sequence', { even_number: n })));
  for (const t of created) await eventually('a linear task to complete', async () => (await taskState(t.task_uuid)) === 'complete');
  const expected = (await api('GET', '/v1/overview')).tasks.complete;
  assert.ok(expected >= 3);
  await page.goto(`${base}/ui`);
  const count = page.locator('[data-count="complete"]');
  await count.waitFor();
  assert.equal(Number(await count.textContent()), expected);
  await page.locator('[data-queue="linear_workflow"]').waitFor();
  await page.locator('[data-worker-id]').first().waitFor();
  await page.locator('[data-chart="per-minute"] rect.completed').first().waitFor({ state: 'attached' });
  await shot('overview');
});

test('the task list filters by state and links to each task', async () => {
  await page.goto(`${base}/ui/tasks?state=complete`);
  const rows = page.locator('tr[data-task-uuid]');
  await rows.first().waitFor();
  assert.ok((await rows.count()) >= 3);
  const first = await rows.first().getAttribute('data-task-uuid');
  await shot('tasks');
  await rows.first().click();
  await page.waitForURL(`**/ui/tasks/${first}`);
  await page.locator('[data-dag] [data-step-name]').first().waitFor();
});

test("a running task's DAG updates live until it completes, without a reload", async () => {
  const task = await createTask('test_scenarios', 'sleepy_diamond', { even_number: 2, sleep_ms: 700 });
  await page.goto(`${base}/ui/tasks/${task.task_uuid}`);
  await page.evaluate(() => { window.__notReloaded = true; });
  await page.locator('[data-step-name][data-state="in_progress"]').first().waitFor({ timeout: 15000 });
  await shot('task-running');
  await page.waitForFunction(() => {
    const nodes = [...document.querySelectorAll('[data-dag] [data-step-name]')];
    return nodes.length === 4 && nodes.every((n) => n.dataset.state === 'complete');
  }, null, { timeout: 30000 });
  assert.equal(await page.evaluate(() => window.__notReloaded), true, 'the page was not reloaded');
  await page.locator('[data-task-state] [data-state="complete"]').waitFor();
  await page.locator('[data-step-name="diamond_end"]').click();
  await page.locator('[data-step-panel="diamond_end"]').getByRole('heading', { name: 'Result', exact: true }).waitFor();
  await page.locator('[data-step-panel="diamond_end"] .timeline li').first().waitFor();
  await shot('task-complete');
});

test('a failed task is retried from the dead-letter page and completes', async () => {
  const failUntil = new Date(Date.now() + 4000).toISOString();
  const task = await createTask('test_scenarios', 'fails_until', { even_number: 2, fail_until: failUntil });
  await eventually('the task to fail', async () => (await taskState(task.task_uuid)) === 'error');
  await page.goto(`${base}/ui/dlq`);
  const row = page.locator(`tr[data-task-uuid="${task.task_uuid}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /NotYet/);
  await shot('dlq');
  await eventually('fail_until to pass', async () => Date.now() > Date.parse(failUntil) + 200);
  await row.locator('[data-action="retry"]').click();
  await page.locator('dialog [data-action="confirm"]').click();
  await eventually('the retried task to complete', async () => (await taskState(task.task_uuid)) === 'complete');
  await row.waitFor({ state: 'detached' });
});

test('a failed step is resolved with a result and its dependents run', async () => {
  const failUntil = new Date(Date.now() + 3600_000).toISOString();
  const task = await createTask('test_scenarios', 'fails_until', { even_number: 2, fail_until: failUntil });
  await eventually('the task to fail', async () => (await taskState(task.task_uuid)) === 'error');
  await page.goto(`${base}/ui/tasks/${task.task_uuid}`);
  await page.locator('[data-step-name="flaky"][data-state="error"]').click();
  await page.locator('[data-step-panel="flaky"] [data-error="NotYet"]').waitFor();
  await page.locator('[data-action="resolve"]').click();
  await page.locator('dialog [data-field="result"]').fill('{"value": "16"}');
  await shot('resolve');
  await page.locator('dialog [data-action="confirm"]').click();
  await page.locator('[data-step-name="after"][data-state="complete"]').waitFor({ timeout: 20000 });
  const done = await api('GET', `/v1/tasks/${task.task_uuid}`);
  assert.equal(done.state, 'complete');
  assert.deepEqual(done.steps.find((s) => s.name === 'after').result, { value: '256' });
});

test('cancel stops a running task', async () => {
  const task = await createTask('test_scenarios', 'sleepy_single', { even_number: 2, sleep_ms: 20000 });
  await page.goto(`${base}/ui/tasks/${task.task_uuid}`);
  await page.locator('[data-step-name="sleepy_step"][data-state="in_progress"]').waitFor({ timeout: 15000 });
  await page.locator('[data-action="cancel"]').click();
  await page.locator('dialog [data-action="confirm"]').click();
  await page.locator('[data-task-state] [data-state="cancelled"]').waitFor();
  assert.equal(await taskState(task.task_uuid), 'cancelled');
});

test('the templates page draws a template and starts a task from its form', async () => {
  await page.goto(`${base}/ui/templates`);
  await page.locator('[data-field="template"]').selectOption('linear_workflow/mathematical_sequence@1.0.0');
  await page.locator('[data-dag] [data-step-name="linear_step_4"]').waitFor();
  await page.locator('[data-field="context"]').fill('{"even_number": 8}');
  await shot('templates');
  await page.locator('[data-action="start"]').click();
  await page.waitForURL(/\/ui\/tasks\/[0-9a-f-]{36}$/);
  await page.waitForFunction(() => {
    const nodes = [...document.querySelectorAll('[data-dag] [data-step-name]')];
    return nodes.length === 4 && nodes.every((n) => n.dataset.state === 'complete');
  }, null, { timeout: 30000 });
  const uuid = page.url().split('/').pop();
  const task = await api('GET', `/v1/tasks/${uuid}`);
  assert.deepEqual(task.context, { even_number: 8 });
});

test('a bad context is refused on the form, naming the field', async () => {
  await page.goto(`${base}/ui/templates`);
  await page.locator('[data-field="template"]').selectOption('linear_workflow/mathematical_sequence@1.0.0');
  await page.locator('[data-field="context"]').fill('{"even_number": 3}');
  await page.locator('[data-action="start"]').click();
  await page.locator('[role="alert"]').getByText('even_number').waitFor();
});

test('schedules show their next fire and can be paused', async () => {
  await api('POST', '/v1/schedules', {
    namespace: 'linear_workflow', name: 'mathematical_sequence', cron: '0 0 1 1 *', context: { even_number: 2 },
  });
  await page.goto(`${base}/ui/schedules`);
  await page.locator('[data-schedule-id]').first().waitFor();
  await shot('schedules');
  await page.locator('[data-action="pause"]').first().click();
  await page.locator('[data-action="resume"]').first().waitFor();
});

/** An HS256 JWT granting `permissions` for an hour, signed with the auth server's secret. */
function jwt(permissions) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ permissions, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  const signature = createHmac('sha256', process.env.TASKER_JWT_SECRET).update(body).digest('base64url');
  return `${body}.${signature}`;
}

test('with authentication on, the dashboard asks for a key and says plainly what it may not do', async () => {
  const authBase = process.env.TASKER_AUTH_URL;
  assert.ok(authBase, 'TASKER_AUTH_URL is set (scripts/ui_test.sh)');
  const running = await createTask('test_scenarios', 'sleepy_single', { even_number: 2, sleep_ms: 20000 });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const authPage = await context.newPage();
  await authPage.goto(`${authBase}/ui`);
  const key = authPage.locator('[data-field="api-key"]');
  await key.fill('not-a-key');
  await authPage.locator('button[type="submit"]').click();
  await authPage.getByText('The key given was not accepted.').waitFor();
  await authPage.screenshot({ path: `${shots}/api-key.png` });
  await key.fill(jwt(['tasks:read']));
  await authPage.locator('button[type="submit"]').click();
  await authPage.locator('[data-count="complete"]').waitFor();
  await authPage.goto(`${authBase}/ui/tasks/${running.task_uuid}`);
  await authPage.locator('[data-action="cancel"]').click();
  await authPage.locator('dialog [data-action="confirm"]').click();
  await authPage.locator('[role="alert"]').getByText('missing permission `tasks:write`').waitFor();
  assert.notEqual(await taskState(running.task_uuid), 'cancelled');
  await authPage.locator('#forget-key').click();
  await key.waitFor();
  await context.close();
  await api('POST', `/v1/tasks/${running.task_uuid}/cancel`, {});
});
