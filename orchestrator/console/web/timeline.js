// The saga timeline: one lane per step and one for compensation, each call
// attempt a bar from its start to its result, coloured by outcome, with the
// error on hover; backoffs and waits (wait/delay steps, asynchronous
// completions) as hatched bars. The model folds events in as history pages
// arrive (it keeps aggregated bars, not events), and the drawing merges
// bars that fall into the same pixel column, so a history of any length
// draws a bounded number of SVG nodes.

import {formatDuration, formatTime, h, num, s} from './dom.js';

const COMPENSATION_LANE = '⟲ compensation';
const WAITING_KINDS = new Set(['wait', 'delay']);

export class TimelineModel {
  // stepNames: the saga's steps in order; stepKinds: name -> kind from the
  // definition (may be empty).
  constructor(stepNames, stepKinds = {}) {
    this.lanes = new Map();
    for (const name of stepNames) this.lanes.set(name, []);
    this.lanes.set(COMPENSATION_LANE, []);
    this.stepKinds = stepKinds;
    this.markers = [];
    this.open = new Map();  // lane + '/' + step -> bar without an end yet
    this.events = 0;
    this.firstMs = 0;
    this.lastMs = 0;
  }

  lane(name) {
    if (!this.lanes.has(name)) {
      // A step the summary did not name (should not happen): keep its lane
      // before the compensation lane.
      const compensation = this.lanes.get(COMPENSATION_LANE);
      this.lanes.delete(COMPENSATION_LANE);
      this.lanes.set(name, []);
      this.lanes.set(COMPENSATION_LANE, compensation);
    }
    return this.lanes.get(name);
  }

  startBar(laneName, key, bar) {
    this.closeBar(key, bar.start, 'interrupted', '');
    this.lane(laneName).push(bar);
    this.open.set(key, bar);
  }

  closeBar(key, end, outcome, error) {
    const bar = this.open.get(key);
    if (!bar) return null;
    this.open.delete(key);
    bar.end = end;
    bar.outcome = outcome;
    if (error) bar.error = error;
    return bar;
  }

  add(events) {
    for (const event of events) this.addOne(event);
  }

  addOne(event) {
    const t = num(event.recordedUnixMs);
    const step = event.step || '';
    const attempt = event.attempt || 0;
    let data = {};
    try {
      data = event.dataJson ? JSON.parse(event.dataJson) : {};
    } catch {
      data = {};
    }
    this.events++;
    if (!this.firstMs || t < this.firstMs) this.firstMs = t;
    if (t > this.lastMs) this.lastMs = t;
    const key = `step/${step}`;
    const compensationKey = `compensation/${step}`;
    const error = data.error || data.reason || '';
    switch (event.type) {
      case 'StepStarted': {
        this.closeBar(`backoff/${step}`, t, 'done', '');
        const waits = WAITING_KINDS.has(this.stepKinds[step]);
        this.startBar(step, key, {
          kind: waits ? 'waiting' : 'attempt', step, attempt, start: t, end: 0,
          outcome: 'running', dueMs: num(data.due_ms),
        });
        break;
      }
      case 'StepAccepted': {
        // The call was accepted: from here the saga waits for the
        // completion (or for its child saga).
        const bar = this.closeBar(key, t, 'accepted', '');
        this.startBar(step, key, {
          kind: 'waiting', step, attempt: bar ? bar.attempt : attempt, start: t, end: 0,
          outcome: 'running', child: data.child_saga_id || '',
        });
        break;
      }
      case 'StepSucceeded':
        this.closeBar(key, t, 'succeeded', '');
        break;
      case 'StepFailed': {
        const outcome = data.outcome_unknown ? 'unknown' : data.retryable ? 'retryable' : 'failed';
        if (!this.closeBar(key, t, outcome, error)) {
          // Failed without a start (a cancel, a deadline): a point.
          this.lane(step).push({kind: 'attempt', step, attempt, start: t, end: t, outcome, error});
        }
        break;
      }
      case 'RetryScheduled':
        this.startBar(step, `backoff/${step}`, {
          kind: 'backoff', step, attempt, start: t, end: 0, outcome: 'backoff',
          dueMs: num(data.due_ms),
        });
        break;
      case 'CompensationStepStarted':
        this.closeBar(`compensation-backoff/${step}`, t, 'done', '');
        this.startBar(COMPENSATION_LANE, compensationKey, {
          kind: 'compensation', step, attempt, start: t, end: 0, outcome: 'running',
        });
        break;
      case 'CompensationStepSucceeded':
        this.closeBar(compensationKey, t, 'compensated', '');
        break;
      case 'CompensationStepFailed':
        if (!this.closeBar(compensationKey, t, 'failed', error)) {
          this.lane(COMPENSATION_LANE).push(
              {kind: 'compensation', step, attempt, start: t, end: t, outcome: 'failed', error});
        }
        break;
      case 'CompensationRetryScheduled':
        this.startBar(COMPENSATION_LANE, `compensation-backoff/${step}`, {
          kind: 'backoff', step, attempt, start: t, end: 0, outcome: 'backoff',
          dueMs: num(data.due_ms),
        });
        break;
      case 'OperatorAction':
        // A repair may end open bars (a skipped step, a retry).
        this.markers.push({t, label: `operator ${data.action || ''} by ${data.operator || '?'}: ${data.reason || ''}`, kind: 'operator'});
        if (data.action === 'skip_step') {
          this.closeBar(compensationKey, t, 'skipped', '');
          this.closeBar(`compensation-backoff/${step}`, t, 'done', '');
        }
        if (data.action === 'mark_compensated') this.closeAll(t, 'skipped');
        break;
      case 'CompensationStarted':
        this.closeAll(t, 'interrupted', true);
        this.markers.push({t, label: `compensation started: ${error}`, kind: 'compensation'});
        break;
      case 'CancelRequested':
      case 'DeadlinePassed':
        this.markers.push({t, label: `${event.type}: ${error}`, kind: 'warning'});
        break;
      case 'SagaCompleted':
      case 'SagaCompensated':
      case 'SagaFailed':
        this.closeAll(t, 'interrupted');
        this.markers.push({t, label: `${event.type}${error ? `: ${error}` : ''}`, kind: 'end'});
        break;
      default:
        break;
    }
  }

  // Ends open bars (e.g. a backoff cut short by compensation); with
  // backoffsOnly, only step backoffs.
  closeAll(t, outcome, backoffsOnly = false) {
    for (const [key, bar] of this.open) {
      if (backoffsOnly && !(bar.kind === 'backoff' && key.startsWith('backoff/'))) continue;
      this.open.delete(key);
      bar.end = bar.kind === 'backoff' && bar.dueMs ? Math.min(t, bar.dueMs) : t;
      if (bar.outcome === 'running' || bar.outcome === 'backoff') bar.outcome = bar.kind === 'backoff' ? 'backoff' : outcome;
    }
  }

  // Per-lane counts for the text summary under the drawing.
  summary() {
    const out = [];
    for (const [lane, bars] of this.lanes) {
      let calls = 0; let failed = 0; let backoffMs = 0; let waitingMs = 0; let lastError = '';
      for (const bar of bars) {
        const end = bar.end || this.lastMs;
        if (bar.kind === 'backoff') backoffMs += Math.max(0, end - bar.start);
        else if (bar.kind === 'waiting') waitingMs += Math.max(0, end - bar.start);
        else {
          calls++;
          if (bar.outcome === 'failed' || bar.outcome === 'retryable' || bar.outcome === 'unknown') {
            failed++;
            if (bar.error) lastError = bar.error;
          }
        }
      }
      out.push({lane, calls, failed, backoffMs, waitingMs, lastError});
    }
    return out;
  }
}

const LABEL_WIDTH = 170;
const LANE_HEIGHT = 24;
const AXIS_HEIGHT = 22;

function outcomeClass(bar) {
  if (bar.kind === 'backoff') return 'bar-backoff';
  if (bar.kind === 'waiting') return 'bar-waiting';
  return `bar-${bar.outcome}`;
}

function barTitle(bar, nowMs) {
  const end = bar.end || nowMs;
  const span = `${formatTime(bar.start)} → ${bar.end ? formatTime(bar.end) : 'now'} (${formatDuration(end - bar.start)})`;
  if (bar.kind === 'backoff') return `${bar.step}: backoff before attempt ${bar.attempt}, ${span}`;
  if (bar.kind === 'waiting') {
    return `${bar.step}: waiting${bar.child ? ` for child saga ${bar.child}` : ''}${bar.dueMs ? ` until ${formatTime(bar.dueMs)}` : ''}, ${span}`;
  }
  const what = bar.kind === 'compensation' ? `compensating ${bar.step}` : bar.step;
  return `${what} attempt ${bar.attempt}: ${bar.outcome}, ${span}${bar.error ? `\nerror: ${bar.error}` : ''}`;
}

// Bars merged into one rectangle when they share a pixel column.
function mergedTitle(group) {
  const counts = {};
  for (const bar of group.bars) counts[outcomeClass(bar).slice(4)] = (counts[outcomeClass(bar).slice(4)] || 0) + 1;
  const parts = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ');
  const errors = group.bars.filter((b) => b.error);
  const last = errors.length ? `\nlast error: ${errors[errors.length - 1].error}` : '';
  return `${group.bars.length} bars merged (${parts}), ${formatTime(group.start)} → ${formatTime(group.end)}${last}`;
}

function mergedClass(group) {
  const classes = group.bars.map(outcomeClass);
  for (const c of ['bar-failed', 'bar-unknown', 'bar-retryable', 'bar-running', 'bar-compensated', 'bar-succeeded', 'bar-waiting']) {
    if (classes.includes(c)) return c;
  }
  return classes[0];
}

// Draws the model into `container` as one SVG. nowMs ends open bars of a
// running saga; endMs is the saga's end (or now).
export function drawTimeline(container, model, {startMs, endMs, width}) {
  const t0 = startMs || model.firstMs;
  const t1 = Math.max(endMs || model.lastMs, t0 + 1);
  const plotWidth = Math.max(200, width - LABEL_WIDTH - 10);
  const x = (t) => LABEL_WIDTH + ((t - t0) / (t1 - t0)) * plotWidth;
  const lanes = [...model.lanes.entries()];
  const height = AXIS_HEIGHT + lanes.length * LANE_HEIGHT + 4;
  const svg = s('svg', {
    class: 'timeline', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': 'saga timeline',
  });
  svg.append(s('defs', {},
      s('pattern', {id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)'},
          s('rect', {width: 6, height: 6, class: 'hatch-bg'}),
          s('line', {x1: 0, y1: 0, x2: 0, y2: 6, class: 'hatch-line'}))));

  // Axis: five ticks.
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    const xi = x(t);
    svg.append(s('line', {x1: xi, y1: AXIS_HEIGHT - 4, x2: xi, y2: height, class: 'grid'}));
    svg.append(s('text', {x: xi, y: 12, class: 'axis', 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle'},
        `+${formatDuration(t - t0)}`));
  }

  let nodes = 0;
  lanes.forEach(([name, bars], index) => {
    const y = AXIS_HEIGHT + index * LANE_HEIGHT;
    svg.append(s('rect', {x: 0, y, width, height: LANE_HEIGHT, class: index % 2 ? 'lane odd' : 'lane'}));
    svg.append(s('text', {x: 6, y: y + 16, class: name === COMPENSATION_LANE ? 'lane-label compensation' : 'lane-label'}, name));
    // Bars narrower than 2 px that start in the same 2 px column become one.
    const sorted = bars.slice().sort((a, b) => a.start - b.start);
    let group = null;
    const flush = () => {
      if (!group) return;
      const x1 = x(group.start);
      const w = Math.max(2, x(group.end) - x1);
      const cls = group.bars.length === 1 ? outcomeClass(group.bars[0]) : mergedClass(group);
      const hatched = cls === 'bar-backoff' || cls === 'bar-waiting';
      const rect = s('rect', {
        x: x1, y: y + 4, width: w, height: LANE_HEIGHT - 8, class: `bar ${cls}`,
        fill: hatched ? 'url(#hatch)' : null,
      }, s('title', {}, group.bars.length === 1 ? barTitle(group.bars[0], t1) : mergedTitle(group)));
      svg.append(rect);
      nodes++;
      group = null;
    };
    for (const bar of sorted) {
      const end = bar.end || t1;
      const narrow = x(end) - x(bar.start) < 2;
      const column = Math.floor(x(bar.start) / 2);
      if (narrow && group && group.column === column) {
        group.bars.push(bar);
        group.end = Math.max(group.end, end);
      } else {
        flush();
        group = {start: bar.start, end, bars: [bar], column: narrow ? column : -1};
      }
    }
    flush();
  });

  for (const marker of model.markers) {
    const xm = x(marker.t);
    svg.append(s('line', {x1: xm, y1: AXIS_HEIGHT, x2: xm, y2: height, class: `marker marker-${marker.kind}`},
        s('title', {}, `${formatTime(marker.t)} ${marker.label}`)));
  }
  container.replaceChildren(svg);
  return nodes;
}

export function timelineLegend() {
  const item = (cls, label) => h('span', {class: 'legend-item'},
      h('span', {class: `swatch ${cls}`}), label);
  return h('p', {class: 'legend'},
      item('bar-succeeded', 'succeeded'), item('bar-retryable', 'failed, retried'),
      item('bar-failed', 'failed'), item('bar-unknown', 'outcome unknown'),
      item('bar-running', 'in progress'), item('bar-compensated', 'compensated'),
      item('bar-backoff', 'backoff (hatched)'), item('bar-waiting', 'waiting / parked (hatched)'),
      item('marker-operator', 'operator action'));
}

export function summaryTable(model) {
  const rows = model.summary().map((row) => h('tr', {},
      h('td', {}, row.lane), h('td', {class: 'num'}, row.calls), h('td', {class: 'num'}, row.failed),
      h('td', {class: 'num'}, row.backoffMs ? formatDuration(row.backoffMs) : ''),
      h('td', {class: 'num'}, row.waitingMs ? formatDuration(row.waitingMs) : ''),
      h('td', {class: 'error-cell'}, row.lastError)));
  return h('table', {class: 'grid-table timeline-summary'},
      h('thead', {}, h('tr', {}, h('th', {}, 'Lane'), h('th', {}, 'Calls'), h('th', {}, 'Failed'),
          h('th', {}, 'Backoff'), h('th', {}, 'Waiting'), h('th', {}, 'Last error'))),
      h('tbody', {}, rows));
}

export {COMPENSATION_LANE};
