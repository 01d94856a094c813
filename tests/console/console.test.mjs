// The web console in a real browser (see harness.mjs for what runs): each
// test drives the pages as an operator would, asserts on what the page
// says, and saves a screenshot under build/console-tests/screenshots.
// Timings are printed, never asserted.

import assert from 'node:assert/strict';
import {mkdirSync} from 'node:fs';
import path from 'node:path';
import {after, before, test} from 'node:test';

import {launchBrowser, lengthenHistory, screenshotDir, startOrchestrator, startParticipants, stopAll, until} from './harness.mjs';

const XSS = '<script>alert(1)</script>"\'&';
const day = new Date(Date.now() + 7 * 86400000).toISOString().slice(0, 10);
const booking = (patient) => JSON.stringify({patient_id: patient, specialty: 'cardiology', preferred_date: day});

let open;      // orchestrator without authentication
let secured;   // orchestrator with an operator and a submitter token
let browser;
const sagas = {};

async function startAndAwait(orchestrator, sagaType, inputJson, token) {
  const {sagaId} = await orchestrator.api('StartSaga', {sagaType, inputJson}, token);
  const {saga} = await orchestrator.api('AwaitSaga', {sagaId, timeoutMs: '20000'}, token);
  return {sagaId, status: saga.status};
}

// One browser page per orchestrator, shared by the tests (a new context
// costs more than a test); each test starts with no dialog and no error.
const pages = new Map();
async function newPage(url) {
  let page = pages.get(url);
  if (!page) {
    const context = await browser.newContext({viewport: {width: 1400, height: 1000}});
    page = await context.newPage();
    page.on('dialog', (dialog) => {
      page.dialogs.push(dialog.message());
      dialog.dismiss();
    });
    page.on('pageerror', (error) => page.pageErrors.push(error.message));
    page.base = url;
    pages.set(url, page);
  }
  page.dialogs = [];
  page.pageErrors = [];
  return page;
}

async function shot(page, name) {
  mkdirSync(screenshotDir, {recursive: true});
  await page.screenshot({path: path.join(screenshotDir, `${name}.png`)});
}

// The page is shared: wait for this saga's heading, not the last one's.
async function gotoSaga(page, sagaId) {
  await page.goto(`${page.base}/#/sagas/${sagaId}`);
  await page.locator('h1 .mono', {hasText: sagaId}).waitFor();
}

async function openSaga(page, sagaId) {
  await gotoSaga(page, sagaId);
  await page.locator('section.timeline-section[data-complete="true"]').waitFor({timeout: 30000});
}

before(async () => {
  const browserStarted = launchBrowser();
  const participants = await startParticipants();
  [open, secured] = await Promise.all([
    startOrchestrator('open', participants),
    startOrchestrator('secured', participants, [{name: 'ops', role: 'operator'}, {name: 'booker', role: 'submitter'}]),
  ]);
  browser = await browserStarted;
  const runs = [];
  for (let i = 0; i < 12; i++) runs.push(startAndAwait(open, 'console_booking', booking(i % 2 ? 'p-1002' : 'p-1004')));
  const [completed, compensated, failed, toRepair, xss, long] = await Promise.all([
    startAndAwait(open, 'console_booking', booking('p-1001')),
    startAndAwait(open, 'console_hold', booking('p-1003')),
    startAndAwait(open, 'console_hold_broken', booking('p-1003')),
    startAndAwait(open, 'console_hold_broken', booking('p-1003')),
    startAndAwait(open, 'console_booking', booking(XSS)),
    startAndAwait(open, 'console_single', JSON.stringify({patient_id: 'p-1001'})),
    ...runs,
  ]);
  Object.assign(sagas, {completed, compensated, failed, toRepair, xss, long});
  assert.equal(completed.status, 'SAGA_STATUS_COMPLETED');
  assert.equal(compensated.status, 'SAGA_STATUS_COMPENSATED');
  assert.equal(failed.status, 'SAGA_STATUS_FAILED');
  assert.equal(toRepair.status, 'SAGA_STATUS_FAILED');
  assert.equal(long.status, 'SAGA_STATUS_COMPLETED');
  lengthenHistory(open.database, long.sagaId, 6666);
});

after(async () => {
  if (browser) await browser.close();
  await stopAll();
});

test('the saga list filters, pages and counts, with the warning banner when authentication is off', async () => {
  const page = await newPage(open.url);
  await page.goto(`${open.url}/#/sagas?size=10`);
  await page.getByText('Authentication is off: anyone who can reach this port can repair sagas').waitFor();
  await page.getByText('Page 1: 10 sagas').waitFor();
  assert.equal(await page.locator('table.sagas tbody tr').count(), 10);
  const counts = page.locator('.counts a.count');
  if (await counts.count()) {
    // CountSagas: 14 COMPLETED (12 + completed + long), 2 COMPENSATED, 2 FAILED.
    await until('the counts', async () => (await page.locator('.count[data-status="COMPLETED"] .count-value').textContent()) === '14');
    assert.equal(await page.locator('.count[data-status="FAILED"] .count-value').textContent(), '2');
  }
  await page.getByRole('button', {name: 'Older →'}).click();
  await page.getByText('Page 2: 8 sagas').waitFor();
  await shot(page, 'list-page-2');

  await page.goto(`${open.url}/#/sagas`);
  await page.locator('select[name="status"]').selectOption('FAILED');
  await page.getByRole('button', {name: 'Apply'}).click();
  await page.getByText('Page 1: 2 sagas').waitFor();
  const statuses = await page.locator('table.sagas tbody td .badge').allTextContents();
  assert.deepEqual(statuses, ['FAILED', 'FAILED']);
  assert.match(page.url(), /status=FAILED/);

  await page.goto(`${open.url}/#/sagas`);
  await page.locator('input[name="key"]').fill('p-1002');
  await page.getByRole('button', {name: 'Apply'}).click();
  await page.getByText('Page 1: 6 sagas').waitFor();
  for (const key of await page.locator('table.sagas tbody tr td:nth-child(4)').allTextContents()) assert.equal(key, 'p-1002');

  if (await page.locator('input[name="error"]').isEnabled()) {
    // ListSagas.error_contains (with CountSagas): case is ignored.
    await page.goto(`${open.url}/#/sagas`);
    await page.locator('input[name="error"]').fill('INJECTED failure');
    await page.getByRole('button', {name: 'Apply'}).click();
    await page.getByText('Page 1: 2 sagas').waitFor();
    await until('the counts of the filter', async () =>
      (await page.locator('.count[data-status="COMPLETED"] .count-value').textContent()) === '0');
    assert.equal(await page.locator('.count[data-status="FAILED"] .count-value').textContent(), '2');
  }

  await page.goto(`${open.url}/#/sagas?type=console_hold`);
  await page.getByText('Page 1: 1 saga,').waitFor();
  await page.goto(`${open.url}/#/sagas?after=${Date.now() + 3600000}`);
  await page.getByText('No saga matches these filters.').waitFor();
  await page.goto(`${open.url}/#/sagas`);
  await page.getByText('Page 1: 18 sagas').waitFor();
  await shot(page, 'list');
  assert.deepEqual(page.pageErrors, []);
});

test('the timeline of a COMPLETED saga: one lane per step, each attempt succeeded', async () => {
  const page = await newPage(open.url);
  await openSaga(page, sagas.completed.sagaId);
  await page.locator('h1 .badge', {hasText: 'COMPLETED'}).waitFor();
  const titles = await page.locator('svg.timeline rect.bar title').allTextContents();
  for (const step of ['validate_patient', 'reserve_doctor', 'notify']) {
    assert.ok(titles.some((t) => t.startsWith(`${step} attempt 1: succeeded`)), `${step} in ${titles}`);
    assert.equal(await page.locator('svg.timeline text.lane-label', {hasText: step}).count(), 1);
  }
  await page.getByText('Drawn from 8 events').waitFor();
  assert.match(await page.locator('.details').textContent(), /Business keyp-1001/);
  await shot(page, 'timeline-completed');
});

test('the timeline of a COMPENSATED saga shows the refusal and the compensation lane', async () => {
  const page = await newPage(open.url);
  await openSaga(page, sagas.compensated.sagaId);
  await page.locator('h1 .badge', {hasText: 'COMPENSATED'}).waitFor();
  const titles = await page.locator('svg.timeline rect.bar title').allTextContents();
  assert.ok(titles.some((t) => t.startsWith('validate_patient attempt 1: failed') && t.includes('only active patients')), titles.join('\n'));
  assert.ok(titles.some((t) => t.startsWith('compensating reserve_doctor attempt 1: compensated')), titles.join('\n'));
  assert.equal(await page.locator('svg.timeline text.lane-label.compensation').count(), 1);
  await shot(page, 'timeline-compensated');
});

test('the timeline of a FAILED saga shows each failed compensation attempt and its backoff', async () => {
  const page = await newPage(open.url);
  await openSaga(page, sagas.failed.sagaId);
  await page.locator('h1 .badge', {hasText: 'FAILED'}).waitFor();
  const titles = await page.locator('svg.timeline rect.bar title').allTextContents();
  for (const attempt of [1, 2, 3]) {
    assert.ok(titles.some((t) => t.startsWith(`compensating reserve_doctor attempt ${attempt}: failed`) && t.includes('error:')), titles.join('\n'));
  }
  assert.ok(titles.some((t) => t.includes('backoff before attempt 2')), titles.join('\n'));
  assert.ok(await page.locator('svg.timeline rect.bar-backoff[fill="url(#hatch)"]').count() >= 2);
  await page.getByRole('button', {name: 'Mark compensated…'}).waitFor();
  await shot(page, 'timeline-failed');
});

test('a repair from the console: mark compensated, with a reason and a confirmation, ends the saga COMPENSATED', async () => {
  const page = await newPage(open.url);
  await openSaga(page, sagas.toRepair.sagaId);
  await page.getByRole('button', {name: 'Mark compensated…'}).click();
  const dialog = page.locator('dialog.confirm');
  await dialog.getByRole('button', {name: 'Back'}).click();  // changing one's mind does nothing
  assert.equal((await open.api('GetSaga', {sagaId: sagas.toRepair.sagaId})).saga.status, 'SAGA_STATUS_FAILED');
  await page.getByRole('button', {name: 'Mark compensated…'}).click();
  await dialog.locator('textarea').fill('released slot by hand, ticket OPS-7');
  await dialog.getByRole('button', {name: 'Confirm: Mark compensated'}).click();
  await page.getByText('Mark compensated: done.').waitFor();
  await page.locator('h1 .badge', {hasText: 'COMPENSATED'}).waitFor();
  await page.locator('table.events td', {hasText: 'OperatorAction'}).waitFor();
  assert.match(await page.locator('table.events').textContent(), /released slot by hand, ticket OPS-7/);
  assert.equal((await open.api('GetSaga', {sagaId: sagas.toRepair.sagaId})).saga.status, 'SAGA_STATUS_COMPENSATED');
  await shot(page, 'repair-compensated');
});

test('an input with <script> and quotes is shown as text, and no dialog fires', async () => {
  const page = await newPage(open.url);
  await openSaga(page, sagas.xss.sagaId);
  assert.ok((await page.locator('pre.input-json').textContent()).includes('"patient_id": "<script>alert(1)</script>\\"\'&"'));
  await page.goto(`${open.url}/#/sagas?type=console_booking&status=COMPENSATED`);
  await page.locator('table.sagas td', {hasText: '<script>alert(1)</script>"\'&'}).first().waitFor();
  assert.deepEqual(page.dialogs, []);
  assert.equal(await page.evaluate(() => document.scripts.length), 1);
  await shot(page, 'xss-as-text');
});

test('a saga with a 20,000-event history: the page answers at once, the timeline is drawn from merged bars', async () => {
  const page = await newPage(open.url);
  const begin = Date.now();
  await gotoSaga(page, sagas.long.sagaId);
  await page.locator('table.events tbody tr').first().waitFor();
  const firstRows = Date.now() - begin;
  // While the timeline loads, the page still answers (a click, a script).
  const probeStart = Date.now();
  await page.evaluate(() => document.title);
  const probe = Date.now() - probeStart;
  await page.locator('section.timeline-section[data-complete="true"]').waitFor({timeout: 30000});
  const timeline = Date.now() - begin;
  assert.equal(await page.locator('section.timeline-section').getAttribute('data-events'), '20002');
  const bars = await page.locator('svg.timeline rect.bar').count();
  assert.ok(bars < 2000, `${bars} bars for 20,002 events`);
  assert.equal(await page.locator('table.events tbody tr').count(), 200);
  const clickStart = Date.now();
  await page.getByRole('button', {name: 'Load more'}).click();
  await until('400 rows', async () => (await page.locator('table.events tbody tr').count()) === 400);
  const more = Date.now() - clickStart;
  assert.match(await page.locator('.timeline-summary').textContent(), /validate_patient6667/);
  const drawMs = await page.locator('section.timeline-section').getAttribute('data-draw-ms');
  console.log(`20,002-event saga: first history rows after ${firstRows} ms, a script answered in ${probe} ms while loading, ` +
      `timeline complete after ${timeline} ms (page's own measure ${drawMs} ms, ${bars} bars), "Load more" 200 rows in ${more} ms`);
  await shot(page, 'timeline-20000-events');
});

test('participants and definitions pages', async () => {
  const page = await newPage(open.url);
  await page.goto(`${open.url}/#/participants`);
  await page.locator('table.participants td', {hasText: 'doctor_broken'}).waitFor();
  assert.match(await page.locator('table.participants').textContent(), /CLOSED/);
  await page.getByRole('button', {name: 'Pause…'}).first().waitFor();
  await shot(page, 'participants');
  await page.goto(`${open.url}/#/definitions`);
  const card = page.locator('#definition-console_booking');
  await card.getByText('PIVOT: point of no return').waitFor();
  assert.match(await card.textContent(), /↩ undone by release_reservation/);
  assert.match(await card.textContent(), /compensatable/);
  await shot(page, 'definitions');
});

test('with tokens: a sign-in (token in session storage only), and a submitter refused', async () => {
  const page = await newPage(secured.url);
  await page.goto(`${secured.url}/`);
  await page.getByRole('heading', {name: 'Sign in'}).waitFor();
  assert.equal(await page.getByText('Authentication is off').count(), 0);
  await page.locator('#token').fill('not-a-token');
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.getByText('The token was not accepted.').waitFor();

  const {sagaId} = await secured.api('StartSaga', {sagaType: 'console_single', inputJson: JSON.stringify({patient_id: 'p-1001'})}, secured.tokens.booker);
  await page.locator('#token').fill(secured.tokens.booker);
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.getByText('Signed in as booker (submitter)').waitFor();
  await page.getByText('PERMISSION_DENIED').first().waitFor();  // the list is for operators
  await gotoSaga(page, sagaId);
  await page.getByText('The timeline and the event history need the operator role.').waitFor();
  assert.equal(await page.getByRole('button', {name: 'Cancel…'}).count(), 0);
  // The server refuses the submitter even when the page is bypassed.
  const refused = await page.evaluate(async (id) => {
    const response = await fetch('/api/v1/CancelSaga', {method: 'POST', headers: {'Content-Type': 'application/json',
      Authorization: `Bearer ${sessionStorage.getItem('saga-console-token')}`}, body: JSON.stringify({sagaId: id, reason: 'x'})});
    return {status: response.status, body: await response.json()};
  }, sagaId);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, 'PERMISSION_DENIED');
  const storage = await page.evaluate(() => ({local: localStorage.length, session: sessionStorage.length}));
  assert.deepEqual(storage, {local: 0, session: 1});
  assert.ok(!page.url().includes(secured.tokens.booker));
  await shot(page, 'submitter');

  await page.getByRole('button', {name: 'Sign out'}).click();
  await page.getByRole('heading', {name: 'Sign in'}).waitFor();
  await page.locator('#token').fill(secured.tokens.ops);
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.getByText('Signed in as ops (operator)').waitFor();
  await openSaga(page, sagaId);
  assert.match(await page.locator('.details').textContent(), /Started bybooker/);
});
