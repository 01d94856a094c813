// One saga: its status and data, the timeline of its steps, the operator
// repairs (operators only), and its raw event history paged from the server.
// The timeline loads the whole history in large pages in the background and
// redraws at most once per animation frame, so the page is usable at once
// even for a history of tens of thousands of events.

import {call} from './api.js';
import {add, enumName, errorBox, formatTime, h, num, prettyJson, sagaLink, statusBadge} from './dom.js';
import {confirmWithReason} from './dialog.js';
import {drawTimeline, summaryTable, timelineLegend, TimelineModel} from './timeline.js';

const HISTORY_PAGE = 200;       // rows per "load more"
const TIMELINE_PAGE = 1000;     // events per background request
const TIMELINE_LIMIT = 200000;  // events the timeline reads at most
const ENDED = new Set(['COMPLETED', 'COMPENSATED', 'FAILED']);
const REFRESH_MS = 5000;       // a running saga is drawn again this often

function detail(label, value) {
  if (value === undefined || value === null || value === '') return null;
  return [h('dt', {}, label), h('dd', {}, value)];
}

function traceId(traceparent) {
  const parts = String(traceparent || '').split('-');
  return parts.length >= 4 ? parts[1] : '';
}

function operatorActions(saga, ctx, rerender, messages) {
  if (!ctx.isOperator) return null;
  const status = enumName(saga.status, 'SAGA_STATUS_');
  const operatorName = (ctx.whoami && ctx.whoami.name) || 'console';
  const run = async (method, title, explanation, request, stepSelect) => {
    const answer = await confirmWithReason(title, explanation, {extra: stepSelect});
    if (!answer) return;
    const body = {sagaId: saga.sagaId, ...request};
    if (method === 'CancelSaga') body.reason = answer.reason;
    else body.operator = {name: operatorName, reason: answer.reason};
    if (stepSelect) body.step = answer.extra;
    try {
      await call(method, body);
      messages.replaceChildren(h('p', {class: 'ok-box', role: 'status'}, `${title}: done.`));
    } catch (error) {
      messages.replaceChildren(errorBox(error));
      return;
    }
    await rerender();
  };
  const buttons = [];
  if (status === 'RUNNING') {
    buttons.push(h('button', {type: 'button', class: 'danger', onclick: () => run('CancelSaga', 'Cancel saga',
        'The saga rolls back: its completed steps are compensated, then it ends COMPENSATED.', {})}, 'Cancel…'));
  }
  if (status === 'FAILED' || status === 'RUNNING' || status === 'COMPENSATING') {
    buttons.push(h('button', {type: 'button', onclick: () => run('RetrySaga', 'Retry',
        'Resumes now: a FAILED saga\'s compensation gets a fresh round of attempts; a saga in a backoff tries again at once.', {})}, 'Retry…'));
  }
  if (status === 'FAILED' || status === 'COMPENSATING') {
    const steps = (saga.steps || []).filter((step) => ['STEP_STATUS_COMPENSATING', 'STEP_STATUS_COMPENSATION_FAILED', 'STEP_STATUS_SUCCEEDED'].includes(step.status));
    const select = h('select', {name: 'step'}, (steps.length ? steps : saga.steps || []).map((step) => h('option', {value: step.name}, step.name)));
    buttons.push(h('button', {type: 'button', onclick: () => run('SkipStep', 'Skip step',
        'Declares that the chosen step\'s effect was undone by hand; the saga goes on compensating the earlier steps.', {}, select)}, 'Skip step…'));
  }
  if (status === 'FAILED') {
    buttons.push(h('button', {type: 'button', class: 'danger', onclick: () => run('MarkCompensated', 'Mark compensated',
        'Ends this FAILED saga as COMPENSATED: you have undone by hand what was left.', {})}, 'Mark compensated…'));
  }
  if (!buttons.length) return null;
  return h('section', {class: 'actions'}, h('h2', {}, 'Operator actions'), h('div', {class: 'buttons'}, buttons));
}

function stepsTable(saga) {
  return h('table', {class: 'grid-table steps'},
      h('thead', {}, h('tr', {}, ['Step', 'Status', 'Attempts', 'Compensation attempts', 'Started', 'Ended', 'Error', 'Output'].map((c) => h('th', {}, c)))),
      h('tbody', {}, (saga.steps || []).map((step) => h('tr', {},
          h('td', {}, step.name, step.participant ? h('div', {class: 'muted'}, `${step.participant}.${step.action}`) : null),
          h('td', {}, enumName(step.status, 'STEP_STATUS_'), step.outcomeUnknown ? ' (outcome unknown)' : '',
              step.childSagaId ? h('div', {}, 'child ', sagaLink(step.childSagaId)) : null),
          h('td', {class: 'num'}, step.totalAttempts || step.attempts || 0),
          h('td', {class: 'num'}, step.totalCompensationAttempts || step.compensationAttempts || 0),
          h('td', {class: 'time'}, formatTime(step.startedUnixMs)),
          h('td', {class: 'time'}, formatTime(step.endedUnixMs)),
          h('td', {class: 'error-cell'}, step.error || ''),
          h('td', {}, step.outputJson ? h('pre', {class: 'json small'}, prettyJson(step.outputJson)) : '')))));
}

function historySection(sagaId) {
  const body = h('tbody', {});
  const more = h('button', {type: 'button', class: 'load-more'}, 'Load more');
  const info = h('span', {class: 'muted history-info'});
  let afterSeq = '0';
  let shown = 0;
  const load = async () => {
    more.disabled = true;
    try {
      const response = await call('GetSagaHistory', {sagaId, afterSeq, pageSize: HISTORY_PAGE});
      const events = response.events || [];
      const rows = events.map((event) => h('tr', {},
          h('td', {class: 'num'}, event.seq), h('td', {class: 'time'}, formatTime(event.recordedUnixMs)),
          h('td', {}, event.type), h('td', {}, event.step || ''), h('td', {class: 'num'}, event.attempt || ''),
          h('td', {class: 'data-cell', title: event.dataJson || null}, event.dataJson || '')));
      body.append(...rows);
      shown += events.length;
      if (events.length) afterSeq = String(response.nextAfterSeq || events[events.length - 1].seq);
      const hasMore = Boolean(response.hasMore);
      more.hidden = !hasMore;
      info.textContent = `${shown} event${shown === 1 ? '' : 's'} shown${hasMore ? ', more on the server' : ''}`;
    } catch (error) {
      info.replaceChildren(errorBox(error));
    }
    more.disabled = false;
  };
  more.addEventListener('click', load);
  const section = h('section', {class: 'history'}, h('h2', {}, 'Event history'),
      h('table', {class: 'grid-table events'},
          h('thead', {}, h('tr', {}, ['Seq', 'Recorded (UTC)', 'Type', 'Step', 'Attempt', 'Data'].map((c) => h('th', {}, c)))), body),
      h('div', {class: 'pager'}, more, info));
  return {section, load};
}

// Loads the history page by page into the model and redraws once per frame.
function timelineSection(saga, stepKinds, isCurrent) {
  const model = new TimelineModel((saga.steps || []).map((step) => step.name), stepKinds);
  const drawing = h('div', {class: 'timeline-box'});
  const progress = h('p', {class: 'muted timeline-progress', 'aria-live': 'polite'}, 'Loading the history…');
  const summary = h('div', {});
  const section = h('section', {class: 'timeline-section'}, h('h2', {}, 'Timeline'), timelineLegend(), drawing, progress, summary);
  const ended = ENDED.has(enumName(saga.status, 'SAGA_STATUS_'));
  const started = performance.now();
  let frame = 0;
  let nodes = 0;
  const draw = () => {
    frame = 0;
    const width = Math.max(600, drawing.clientWidth || 1000);
    nodes = drawTimeline(drawing, model, {
      startMs: Math.min(num(saga.createdUnixMs) || Infinity, model.firstMs || Infinity),
      endMs: ended ? Math.max(model.lastMs, num(saga.updatedUnixMs)) : Date.now(),
      width,
    });
  };
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(draw);
  };
  const load = async () => {
    let afterSeq = '0';
    for (;;) {
      let response;
      try {
        response = await call('GetSagaHistory', {sagaId: saga.sagaId, afterSeq, pageSize: TIMELINE_PAGE});
      } catch (error) {
        progress.replaceChildren(errorBox(error));
        return;
      }
      if (!isCurrent()) return;
      const events = response.events || [];
      model.add(events);
      schedule();
      if (!response.hasMore || !events.length || model.events >= TIMELINE_LIMIT) break;
      afterSeq = String(response.nextAfterSeq || events[events.length - 1].seq);
      progress.textContent = `Loading the history… ${model.events} events so far`;
    }
    await new Promise((resolve) => requestAnimationFrame(() => {
      if (frame) cancelAnimationFrame(frame);
      draw();
      resolve();
    }));
    const ms = Math.round(performance.now() - started);
    progress.textContent = `Drawn from ${model.events} events${model.events >= TIMELINE_LIMIT ? ' (the first ones only)' : ''} in ${ms} ms (${nodes} bars).`;
    summary.replaceChildren(summaryTable(model));
    // For tests and the curious: how long the whole timeline took.
    section.dataset.events = String(model.events);
    section.dataset.drawMs = String(ms);
    section.dataset.complete = 'true';
  };
  return {section, load};
}

async function stepKindsOf(saga) {
  try {
    const response = await call('GetDefinition', {sagaType: saga.sagaType, version: saga.definitionVersion});
    const kinds = {};
    for (const step of (response.info && response.info.stepDetails) || []) kinds[step.name] = step.kind;
    return kinds;
  } catch {
    return {};  // only wait and delay steps draw differently without it
  }
}

// Draws the saga into `root`; a running saga is drawn again every few
// seconds (and after each repair) until the page is left.
export async function renderSaga(root, sagaId, ctx, isCurrent) {
  let timer = null;
  let container = root;
  const messages = h('div', {class: 'messages'});
  const repaint = async () => {
    clearTimeout(timer);
    if (!isCurrent()) return;
    const fresh = h('div', {class: 'page'});
    container.replaceWith(fresh);
    container = fresh;
    try {
      await paint(fresh);
    } catch (error) {
      if (isCurrent()) fresh.replaceChildren(errorBox(error));
    }
  };
  const paint = async (into) => {
    const response = await call('GetSaga', {sagaId});
    if (!isCurrent()) return;
    const saga = response.saga || {};
    const status = enumName(saga.status, 'SAGA_STATUS_');
    await paintSaga(into, saga, ctx, isCurrent, repaint, messages);
    if (!ENDED.has(status) && isCurrent()) timer = setTimeout(repaint, REFRESH_MS);
  };
  await paint(root);
  return () => clearTimeout(timer);
}

async function paintSaga(root, saga, ctx, isCurrent, repaint, messages) {
  const status = enumName(saga.status, 'SAGA_STATUS_');
  const links = [];
  if (saga.parentSagaId) links.push(h('li', {}, 'Parent: ', sagaLink(saga.parentSagaId), ` (step ${saga.parentStep})`));
  if (saga.rerunOf) links.push(h('li', {}, 'Rerun of: ', sagaLink(saga.rerunOf)));
  for (const rerun of saga.reruns || []) links.push(h('li', {}, 'Rerun: ', sagaLink(rerun)));
  for (const step of saga.steps || []) {
    if (step.childSagaId) links.push(h('li', {}, `Child (step ${step.name}): `, sagaLink(step.childSagaId)));
  }
  if (ctx.isOperator) links.push(h('li', {}, h('a', {href: `#/sagas?parent=${encodeURIComponent(saga.sagaId)}`}, 'All children'), ' · ',
      h('a', {href: `#/sagas?rerunOf=${encodeURIComponent(saga.sagaId)}`}, 'All reruns')));

  add(root,
      h('p', {class: 'crumbs'}, h('a', {href: '#/sagas'}, '← Sagas')),
      h('h1', {}, 'Saga ', h('span', {class: 'mono'}, saga.sagaId), ' ', statusBadge(saga.status)),
      h('dl', {class: 'details'},
          detail('Type', h('a', {href: `#/definitions/${encodeURIComponent(saga.sagaType)}`}, `${saga.sagaType} v${saga.definitionVersion}`)),
          detail('Status', status),
          detail('Business key', saga.businessKey),
          detail('Started by', saga.startedBy || '(authentication off)'),
          detail('Trace id', traceId(saga.traceparent)),
          detail('Idempotency key', saga.idempotencyKey),
          detail('Created (UTC)', formatTime(saga.createdUnixMs)),
          detail('Updated (UTC)', formatTime(saga.updatedUnixMs)),
          detail('Current step', saga.currentStep ? `${saga.currentStep} (attempt ${saga.currentAttempt})` : ''),
          detail('Error', saga.error ? h('span', {class: 'error-text'}, saga.error) : ''),
          detail('Deadline', num(saga.deadlineUnixMs) ? `${formatTime(saga.deadlineUnixMs)}${saga.deadlinePassed ? ' (passed)' : ''}` : ''),
          detail('Scheduled start', formatTime(saga.startAtUnixMs))),
      links.length ? h('ul', {class: 'links'}, links) : null,
      messages,
      operatorActions(saga, ctx, repaint, messages));
  // The history (and so the timeline) is for operators; a submitter sees
  // its saga's input and steps.
  const timeline = ctx.isOperator ? timelineSection(saga, await stepKindsOf(saga), isCurrent) : null;
  const history = ctx.isOperator ? historySection(saga.sagaId) : null;
  add(root,
      timeline ? timeline.section : h('p', {class: 'muted'}, 'The timeline and the event history need the operator role.'),
      h('section', {class: 'io'},
          h('h2', {}, 'Input'), h('pre', {class: 'json input-json'}, prettyJson(saga.inputJson)),
          h('h2', {}, 'Steps'), stepsTable(saga)),
      history ? history.section : null);
  if (!timeline) return;
  timeline.load();
  await history.load();
}
