// A task's (or template's) steps drawn as a DAG in SVG: columns by dependency depth (a step one column right of
// its deepest dependency), rows in step order, edges from each dependency to its dependents. Each node carries
// `data-step-name` and `data-state`.

import { h } from './dom.js';

const W = 170, H = 44, GAP_X = 56, GAP_Y = 14, PAD = 16;

/** steps: [{name, state?, depends_on: [names], type?}]; onSelect(name) when a node is clicked. */
export function drawDag(steps, onSelect, selected) {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const depth = new Map();
  const depthOf = (name, seen = new Set()) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const deps = (byName.get(name)?.depends_on || []).filter((d) => byName.has(d));
    const d = deps.length ? 1 + Math.max(...deps.map((p) => depthOf(p, seen))) : 0;
    depth.set(name, d);
    return d;
  };
  const columns = [];
  for (const s of steps) {
    const d = depthOf(s.name);
    (columns[d] ||= []).push(s);
  }
  const pos = new Map();
  columns.forEach((column, x) => column.forEach((s, y) => {
    pos.set(s.name, { x: PAD + x * (W + GAP_X), y: PAD + y * (H + GAP_Y) });
  }));
  const width = PAD * 2 + Math.max(1, columns.length) * (W + GAP_X) - GAP_X;
  const height = PAD * 2 + Math.max(1, ...columns.map((c) => c.length)) * (H + GAP_Y) - GAP_Y;
  const edges = [];
  for (const s of steps) {
    for (const d of s.depends_on || []) {
      const from = pos.get(d), to = pos.get(s.name);
      if (!from || !to) continue;
      const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2, mid = (x1 + x2) / 2;
      edges.push(h('path', { class: 'edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` }));
    }
  }
  const nodes = steps.map((s) => {
    const p = pos.get(s.name);
    const label = s.name.length > 22 ? s.name.slice(0, 21) + '…' : s.name;
    const sub = [s.state ? s.state.replaceAll('_', ' ') : s.type && s.type !== 'standard' ? s.type : s.handler]
      .filter(Boolean).join('');
    return h('g', {
      class: `node${selected === s.name ? ' selected' : ''}`, transform: `translate(${p.x},${p.y})`,
      'data-step-name': s.name, 'data-state': s.state || 'template', tabindex: 0, role: 'button',
      onclick: () => onSelect && onSelect(s.name),
      onkeydown: (e) => { if (e.key === 'Enter' && onSelect) onSelect(s.name); },
    }, h('title', {}, s.name), h('rect', { width: W, height: H, rx: 6 }),
    h('text', { x: 10, y: 18 }, label), h('text', { x: 10, y: 34, class: 'sub' }, sub || ''));
  });
  return h('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'workflow steps' },
    edges, nodes);
}
