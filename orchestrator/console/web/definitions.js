// Definitions: each saga type's steps in order with their kinds, drawn so
// the pivot (the point of no return) and each step's compensation stand
// out, and the branches of a parallel group side by side.

import {call} from './api.js';
import {add, errorBox, h} from './dom.js';

function stepBox(step) {
  const lines = [h('div', {class: 'step-name'}, step.name), h('div', {class: 'step-kind'}, step.kind)];
  if (step.participant) lines.push(h('div', {class: 'muted'}, `${step.participant}.${step.action}${step.asyncCompletion ? ' (async)' : ''}`));
  if (step.signal) lines.push(h('div', {class: 'muted'}, `waits for signal "${step.signal}"`));
  if (step.sagaType) lines.push(h('div', {class: 'muted'}, `child saga ${step.sagaType}`));
  if (step.compensation) lines.push(h('div', {class: 'compensation'}, `↩ undone by ${step.compensation}`));
  if (step.kind === 'pivot') lines.push(h('div', {class: 'pivot-note'}, 'PIVOT: point of no return'));
  return h('div', {class: `step-box kind-${step.kind}`}, lines);
}

// Rows of the drawing: a lone step, or a parallel group whose branches are
// columns side by side.
function rows(steps) {
  const out = [];
  for (const step of steps) {
    const group = step.parallelGroup || 0;
    const last = out[out.length - 1];
    if (group && last && last.group === group) {
      (last.branches[step.parallelBranch] ||= []).push(step);
    } else if (group) {
      out.push({group, branches: {[step.parallelBranch]: [step]}});
    } else {
      out.push({group: 0, step});
    }
  }
  return out;
}

function definitionCard(info) {
  const steps = info.stepDetails || [];
  const flow = h('div', {class: 'flow'});
  for (const row of rows(steps)) {
    if (!row.group) {
      flow.append(stepBox(row.step));
      if (row.step.kind === 'pivot') flow.append(h('div', {class: 'pivot-line'}, 'after the pivot the saga must complete: retriable steps only'));
    } else {
      flow.append(h('div', {class: 'parallel'},
          h('div', {class: 'parallel-label'}, `parallel group ${row.group}`),
          h('div', {class: 'branches'}, Object.keys(row.branches).sort((a, b) => a - b).map((b) =>
            h('div', {class: 'branch'}, h('div', {class: 'muted'}, `branch ${b}`), row.branches[b].map(stepBox))))));
    }
  }
  return h('section', {class: 'definition', id: `definition-${info.sagaType}`},
      h('h2', {}, `${info.sagaType} `, h('span', {class: 'muted'}, `v${info.version}${info.current ? ' (current)' : ''}`)),
      info.description ? h('p', {}, info.description) : null,
      h('p', {}, h('a', {href: `#/sagas?type=${encodeURIComponent(info.sagaType)}`}, 'Sagas of this type')),
      steps.length ? flow : h('p', {class: 'muted'}, `Steps: ${(info.steps || []).join(' → ')}`));
}

export async function renderDefinitions(root, onlyType, ctx, isCurrent) {
  add(root, h('h1', {}, onlyType ? `Definition ${onlyType}` : 'Definitions'));
  let definitions;
  try {
    definitions = (await call('ListDefinitions')).definitions || [];
  } catch (error) {
    add(root, errorBox(error));
    return null;
  }
  definitions = definitions.filter((d) => (onlyType ? d.sagaType === onlyType : d.current));
  definitions.sort((a, b) => a.sagaType.localeCompare(b.sagaType));
  // ListDefinitions may leave out the step details: ask GetDefinition then.
  const infos = await Promise.all(definitions.map(async (d) => {
    if ((d.stepDetails || []).length) return d;
    try {
      return (await call('GetDefinition', {sagaType: d.sagaType, version: d.version})).info || d;
    } catch {
      return d;
    }
  }));
  if (!isCurrent()) return null;
  add(root, h('p', {class: 'legend'},
      ['read_only', 'compensatable', 'pivot', 'retriable', 'wait', 'delay', 'saga'].map((k) => h('span', {class: `legend-item step-box-mini kind-${k}`}, k))));
  add(root, ...infos.map(definitionCard));
  if (!infos.length) root.append(h('p', {class: 'muted'}, 'No definition.'));
  return null;
}
