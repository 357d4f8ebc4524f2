// Templates (/ui/templates): every template and version, its DAG and input schema, and a form that starts a task.

import { get, post } from '../api.js';
import { errorBox, h, jsonBlock } from '../dom.js';
import { drawDag } from '../dag.js';

export async function render(root, _params, ctx) {
  const { templates } = await get('/v1/templates');
  const key = (t) => `${t.namespace}/${t.name}@${t.version}`;
  let current = templates.find((t) => key(t) === ctx.params.get('template')) || templates[0];
  let message = '';

  const start = async (form) => {
    const data = new FormData(form);
    let context;
    try {
      context = JSON.parse(data.get('context') || '{}');
    } catch (e) {
      message = errorBox(`The context is not JSON: ${e.message}`);
      return draw();
    }
    const body = { namespace: current.namespace, name: current.name, version: current.version, context };
    if (data.get('priority')) body.priority = Number(data.get('priority'));
    try {
      const task = await post('/v1/tasks', body);
      ctx.navigate(`/ui/tasks/${task.task_uuid}`);
    } catch (error) {
      message = errorBox(error);
      draw();
    }
  };

  const draw = () => {
    if (!current) {
      root.replaceChildren(h('h1', {}, 'Templates'), h('p', { class: 'muted' }, 'No template is registered.'));
      return;
    }
    root.replaceChildren(
      h('h1', {}, 'Templates'),
      h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
        h('label', {}, 'Template', h('select', {
          name: 'template', 'data-field': 'template',
          onchange: (e) => { current = templates.find((t) => key(t) === e.target.value); message = ''; draw(); },
        }, templates.map((t) => h('option', { value: key(t), selected: t === current }, key(t)))))),
      current.description ? h('p', {}, current.description) : '',
      h('div', { class: 'dag', 'data-dag': key(current) }, drawDag(current.steps.map((s) => ({ ...s, depends_on: s.depends_on || [] })))),
      h('div', { class: 'grid2' },
        h('div', {}, h('h2', {}, 'Input schema'), current.input_schema ? jsonBlock(current.input_schema) : h('p', { class: 'muted' }, 'None: any object.')),
        h('div', {}, h('h2', {}, 'Start a task'), message,
          h('form', { class: 'panel', 'data-form': 'start-task', onsubmit: (e) => { e.preventDefault(); start(e.target); } },
            h('label', {}, 'Context (JSON)', h('textarea', { name: 'context', 'data-field': 'context', spellcheck: 'false' },
              JSON.stringify(skeleton(current.input_schema), null, 2))),
            h('label', {}, 'Priority (1-5)', h('input', { name: 'priority', type: 'number', min: 1, max: 5, placeholder: String(current.priority || 3) })),
            h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-action': 'start' }, 'Start task'))))));
  };
  draw();
}

/** A context with each required property of `schema` set to a placeholder of its type. */
function skeleton(schema) {
  const out = {};
  if (!schema || !schema.properties) return out;
  for (const name of schema.required || []) {
    const p = schema.properties[name] || {};
    out[name] = p.default ?? (p.type === 'integer' || p.type === 'number' ? (p.minimum ?? 0)
      : p.type === 'boolean' ? false : p.type === 'array' ? [] : p.type === 'object' ? {} : '');
  }
  return out;
}
