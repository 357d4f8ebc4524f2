// Small DOM helpers: element creation, state badges, times and JSON blocks.

/** `h('a', {href: '/ui', 'data-link': true}, 'text', child)`: attributes `on<event>` add listeners. */
export function h(tag, attrs, ...children) {
  const el = document.createElementNS(
    SVG_TAGS.has(tag) ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.setAttribute('class', value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const SVG_TAGS = new Set(['svg', 'g', 'rect', 'text', 'path', 'line', 'title', 'polyline']);

export function badge(state) {
  return h('span', { class: `badge state-${state}`, 'data-state': state }, state.replaceAll('_', ' '));
}

/** "12:03:04" today, a date otherwise; the full time in the tooltip. */
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  return h('time', { datetime: iso, title: at.toISOString() }, today ? at.toLocaleTimeString() : at.toLocaleString());
}

export function jsonBlock(value) {
  return h('pre', {}, value === undefined ? '' : JSON.stringify(value, null, 2));
}

export function link(href, text, attrs = {}) {
  return h('a', { href, 'data-link': true, ...attrs }, text);
}

export function shortId(uuid) {
  return uuid ? uuid.slice(0, 8) + '…' + uuid.slice(-4) : '';
}

/** Ask before an action, in a modal; resolves true when confirmed. */
export function confirmDialog(message, extra) {
  const dialog = document.getElementById('dialog');
  return new Promise((resolve) => {
    const close = (answer) => { dialog.close(); resolve(answer); };
    dialog.replaceChildren(
      h('p', {}, message),
      extra || '',
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', 'data-action': 'confirm', onclick: () => close(true) }, 'Confirm'),
        h('button', { type: 'button', 'data-action': 'dismiss', onclick: () => close(false) }, 'Cancel')));
    dialog.showModal();
  });
}

/** A message for an API error, naming the field when the server did. */
export function errorBox(error) {
  const body = error && error.body && error.body.error;
  const text = body ? `${body.message}${body.field ? ` (field: ${body.field})` : ''}` : String(error && error.message || error);
  return h('div', { class: 'error-box', role: 'alert' }, text);
}
