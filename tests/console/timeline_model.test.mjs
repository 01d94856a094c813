// The timeline's model without a browser: which bars a history folds into.

import assert from 'node:assert/strict';
import {cpSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {after, test} from 'node:test';

// The pages are ES modules in a folder without a package.json (everything
// there is served to browsers): node loads a copy marked as modules.
const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../orchestrator/console/web');
const copy = mkdtempSync(path.join(tmpdir(), 'console-web-'));
cpSync(web, copy, {recursive: true});
writeFileSync(path.join(copy, 'package.json'), '{"type": "module"}');
const {COMPENSATION_LANE, TimelineModel} = await import(pathToFileURL(path.join(copy, 'timeline.js')));
after(() => rmSync(copy, {recursive: true, force: true}));

let seq = 0;
const event = (type, step, attempt, t, data = {}) =>
  ({seq: String(++seq), type, step, attempt, recordedUnixMs: String(t), dataJson: JSON.stringify(data)});

test('attempts, backoffs and a compensation fold into bars with outcomes and errors', () => {
  const model = new TimelineModel(['reserve', 'validate']);
  model.add([
    event('SagaStarted', '', 0, 1000),
    event('StepStarted', 'reserve', 1, 1000),
    event('StepFailed', 'reserve', 1, 1010, {error: 'busy', retryable: true}),
    event('RetryScheduled', 'reserve', 2, 1010, {due_ms: 1050}),
    event('StepStarted', 'reserve', 2, 1060),
    event('StepSucceeded', 'reserve', 2, 1070),
    event('StepStarted', 'validate', 1, 1080),
    event('StepFailed', 'validate', 1, 1090, {error: 'inactive', retryable: false}),
    event('CompensationStarted', '', 0, 1090, {error: 'validate failed'}),
    event('CompensationStepStarted', 'reserve', 1, 1100),
    event('CompensationStepFailed', 'reserve', 1, 1110, {error: 'down'}),
    event('CompensationRetryScheduled', 'reserve', 2, 1110, {due_ms: 1150}),
    event('CompensationStepStarted', 'reserve', 2, 1150),
    event('CompensationStepSucceeded', 'reserve', 2, 1160),
    event('SagaCompensated', '', 0, 1160, {error: 'validate failed'}),
  ]);
  const brief = (bars) => bars.map((b) => `${b.kind}:${b.attempt}:${b.outcome}:${b.start}-${b.end}${b.error ? `:${b.error}` : ''}`);
  assert.deepEqual(brief(model.lanes.get('reserve')), [
    'attempt:1:retryable:1000-1010:busy', 'backoff:2:done:1010-1060', 'attempt:2:succeeded:1060-1070']);
  assert.deepEqual(brief(model.lanes.get('validate')), ['attempt:1:failed:1080-1090:inactive']);
  assert.deepEqual(brief(model.lanes.get(COMPENSATION_LANE)), [
    'compensation:1:failed:1100-1110:down', 'backoff:2:done:1110-1150', 'compensation:2:compensated:1150-1160']);
  assert.deepEqual(model.markers.map((m) => m.kind), ['compensation', 'end']);
  const summary = Object.fromEntries(model.summary().map((row) => [row.lane, row]));
  assert.equal(summary.reserve.calls, 2);
  assert.equal(summary.reserve.failed, 1);
  assert.equal(summary.reserve.backoffMs, 50);
  assert.equal(summary[COMPENSATION_LANE].lastError, 'down');
});

test('a wait step and an accepted asynchronous call are waiting bars; a running attempt stays open', () => {
  const model = new TimelineModel(['approval', 'charge'], {approval: 'wait'});
  model.add([
    event('StepStarted', 'approval', 1, 0, {due_ms: 5000}),
    event('StepSucceeded', 'approval', 1, 300),
    event('StepStarted', 'charge', 1, 310),
    event('StepAccepted', 'charge', 1, 320),
    event('StepSucceeded', 'charge', 1, 2320),
    event('StepStarted', 'charge', 2, 2400),
  ]);
  assert.deepEqual(model.lanes.get('approval').map((b) => [b.kind, b.outcome, b.dueMs]), [['waiting', 'succeeded', 5000]]);
  assert.deepEqual(model.lanes.get('charge').map((b) => [b.kind, b.outcome, b.end]), [
    ['attempt', 'accepted', 320], ['waiting', 'succeeded', 2320], ['attempt', 'running', 0]]);
});

test('an operator marking a saga compensated ends the open compensation bars', () => {
  const model = new TimelineModel(['reserve']);
  model.add([
    event('CompensationStepStarted', 'reserve', 3, 10),
    event('OperatorAction', '', 0, 50, {action: 'mark_compensated', operator: 'ann', reason: 'by hand'}),
  ]);
  assert.deepEqual(model.lanes.get(COMPENSATION_LANE).map((b) => [b.outcome, b.end]), [['skipped', 50]]);
  assert.match(model.markers[0].label, /operator mark_compensated by ann: by hand/);
});
