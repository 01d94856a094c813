// The saga list: filters kept in the URL's hash (so a view can be shared
// and reloaded), server-side paging with the page tokens ListSagas hands
// out, counts per status (CountSagas, when the orchestrator has it) and an
// optional auto-refresh.

import {call, isMissingMethod} from './api.js';
import {add, enumName, errorBox, formatTime, h, num, sagaLink, statusBadge} from './dom.js';

const STATUSES = ['RUNNING', 'COMPENSATING', 'COMPLETED', 'COMPENSATED', 'FAILED'];
const PAGE_SIZES = ['10', '25', '50', '100'];
const REFRESH_MS = 5000;
// Filters the URL may carry: URL name -> ListSagas field.
const FILTERS = {
  type: 'sagaType', status: 'status', key: 'businessKey', error: 'errorContains',
  step: 'step', parent: 'parentSagaId', rerunOf: 'rerunOf',
};
// What needs the orchestrator's CountSagas era (step, error text, created
// before): probed once per page load.
let bulkFilters = null;

let autoRefresh = false;

function localInputToMs(value) {
  if (!value) return 0;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : 0;
}

function msToLocalInput(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// ListSagas / CountSagas request fields for the URL's filters.
function filterRequest(query, {withStatus}) {
  const request = {};
  for (const [param, field] of Object.entries(FILTERS)) {
    const value = query.get(param);
    if (!value) continue;
    if (param === 'status') {
      if (withStatus) request.status = `SAGA_STATUS_${value}`;
    } else if (bulkFilters || !['error', 'step'].includes(param)) {
      request[field] = value;
    }
  }
  const after = num(query.get('after'));
  const before = num(query.get('before'));
  if (after) request.createdAfterUnixMs = String(after);
  if (before && bulkFilters) request.createdBeforeUnixMs = String(before);
  return request;
}

async function probeBulkFilters() {
  if (bulkFilters !== null) return;
  try {
    await call('CountSagas', {});
    bulkFilters = true;
  } catch (error) {
    bulkFilters = !isMissingMethod(error);
  }
}

// counts: {status name: n}, from the CountSagas response whichever shape
// it has (a list of {status, count} or a map).
function parseCounts(response) {
  const counts = {};
  const list = response.counts || response.statusCounts || [];
  if (Array.isArray(list)) {
    for (const item of list) counts[enumName(item.status, 'SAGA_STATUS_')] = num(item.count);
  } else {
    for (const [k, v] of Object.entries(list)) counts[enumName(k, 'SAGA_STATUS_')] = num(v);
  }
  for (const status of STATUSES) {
    const field = status.toLowerCase();
    if (response[field] !== undefined) counts[status] = num(response[field]);
  }
  return counts;
}

function filterForm(query, definitions) {
  const field = (label, input) => h('label', {class: 'field'}, h('span', {}, label), input);
  const select = (name, options, value, allLabel) => h('select', {name},
      h('option', {value: ''}, allLabel),
      options.map((o) => h('option', {value: o, selected: o === value}, o)));
  const text = (name, placeholder, disabled) => h('input', {
    type: 'text', name, value: query.get(name) || '', placeholder, disabled,
    title: disabled ? 'needs an orchestrator with CountSagas (bulk operations)' : null,
  });
  const form = h('form', {class: 'filters', onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    for (const [k, v] of data.entries()) {
      if (!v) continue;
      if (k === 'after' || k === 'before') {
        const ms = localInputToMs(v);
        if (ms) next.set(k, String(ms));
      } else next.set(k, String(v).trim());
    }
    for (const hidden of ['parent', 'rerunOf']) if (query.get(hidden)) next.set(hidden, query.get(hidden));
    location.hash = `#/sagas?${next}`;
  }},
  field('Type', select('type', definitions, query.get('type') || '', 'any type')),
  field('Status', select('status', STATUSES, query.get('status') || '', 'any status')),
  field('Created after', h('input', {type: 'datetime-local', name: 'after', value: msToLocalInput(num(query.get('after')))})),
  field('Created before', h('input', {type: 'datetime-local', name: 'before', disabled: !bulkFilters,
    value: msToLocalInput(num(query.get('before')))})),
  field('Business key', text('key', 'e.g. p-1001')),
  field('Error contains', text('error', 'text in the error', !bulkFilters)),
  field('Step', text('step', 'current step', !bulkFilters)),
  field('Page size', select('size', PAGE_SIZES, query.get('size') || '', '25')),
  h('div', {class: 'buttons'},
      h('button', {type: 'submit'}, 'Apply'),
      h('a', {href: '#/sagas', class: 'button-like'}, 'Clear')));
  return form;
}

function sagaRow(saga) {
  return h('tr', {},
      h('td', {}, sagaLink(saga.sagaId)),
      h('td', {}, saga.sagaType, h('span', {class: 'muted'}, ` v${saga.definitionVersion}`)),
      h('td', {}, statusBadge(saga.status)),
      h('td', {}, saga.businessKey || ''),
      h('td', {}, saga.currentStep || ''),
      h('td', {class: 'error-cell', title: saga.error || null}, saga.error || ''),
      h('td', {class: 'time'}, formatTime(saga.createdUnixMs)),
      h('td', {class: 'time'}, formatTime(saga.updatedUnixMs)));
}

export async function renderList(root, query, ctx, isCurrent) {
  await probeBulkFilters();
  let definitions = [];
  try {
    const response = await call('ListDefinitions');
    definitions = [...new Set((response.definitions || []).map((d) => d.sagaType))].sort();
  } catch {
    definitions = [];  // a submitter may not list definitions
  }
  if (!isCurrent()) return null;

  const countsBox = h('div', {class: 'counts', 'aria-label': 'counts per status'});
  const tableBody = h('tbody', {});
  const pager = h('div', {class: 'pager'});
  const status = h('p', {class: 'muted list-status', 'aria-live': 'polite'});
  const notes = [];
  if (!bulkFilters) notes.push(h('p', {class: 'muted'}, 'This orchestrator has no CountSagas: counts per status and the filters by step, error text and end of time range are not available.'));
  if (query.get('parent')) notes.push(h('p', {}, 'Children of ', sagaLink(query.get('parent'))));
  if (query.get('rerunOf')) notes.push(h('p', {}, 'Reruns of ', sagaLink(query.get('rerunOf'))));
  const refreshToggle = h('input', {type: 'checkbox', id: 'auto-refresh', checked: autoRefresh});
  add(root, h('h1', {}, 'Sagas'), filterForm(query, definitions), notes, countsBox,
      h('div', {class: 'toolbar'}, status,
          h('label', {class: 'toggle'}, refreshToggle, ` Auto-refresh every ${REFRESH_MS / 1000} s`)),
      h('table', {class: 'grid-table sagas'},
          h('thead', {}, h('tr', {}, ['Saga', 'Type', 'Status', 'Business key', 'Current step', 'Error', 'Created (UTC)', 'Updated (UTC)'].map((c) => h('th', {}, c)))),
          tableBody),
      pager);

  const pageSize = num(query.get('size')) || 25;
  const tokens = [''];  // tokens[i]: the token of page i
  let page = 0;

  async function loadCounts() {
    if (!bulkFilters) return;
    try {
      const counts = parseCounts(await call('CountSagas', filterRequest(query, {withStatus: false})));
      if (!isCurrent()) return;
      const selected = query.get('status') || '';
      countsBox.replaceChildren(...STATUSES.map((st) => {
        const next = new URLSearchParams(query);
        if (selected === st) next.delete('status'); else next.set('status', st);
        return h('a', {href: `#/sagas?${next}`, class: `count status-${st.toLowerCase()}${selected === st ? ' selected' : ''}`, dataset: {status: st}},
            h('span', {class: 'count-name'}, st), ' ', h('span', {class: 'count-value'}, String(counts[st] || 0)));
      }));
    } catch (error) {
      if (isCurrent()) countsBox.replaceChildren(errorBox(error));
    }
  }

  async function loadPage() {
    status.textContent = 'Loading…';
    let response;
    try {
      response = await call('ListSagas', {...filterRequest(query, {withStatus: true}), pageSize, pageToken: tokens[page]});
    } catch (error) {
      if (!isCurrent()) return;
      status.textContent = '';
      tableBody.replaceChildren(h('tr', {}, h('td', {colspan: 8}, errorBox(error))));
      pager.replaceChildren();
      return;
    }
    if (!isCurrent()) return;
    const sagas = response.sagas || [];
    tableBody.replaceChildren(...(sagas.length ? sagas.map(sagaRow) :
        [h('tr', {}, h('td', {colspan: 8, class: 'muted'}, 'No saga matches these filters.'))]));
    if (response.nextPageToken) tokens[page + 1] = response.nextPageToken;
    else tokens.length = page + 1;
    status.textContent = `Page ${page + 1}: ${sagas.length} saga${sagas.length === 1 ? '' : 's'}, updated ${new Date().toLocaleTimeString()}`;
    pager.replaceChildren(
        h('button', {type: 'button', disabled: page === 0, onclick: () => {
          page--;
          loadPage();
        }}, '← Newer'),
        h('span', {class: 'page-number'}, `Page ${page + 1}`),
        h('button', {type: 'button', disabled: !response.nextPageToken, onclick: () => {
          page++;
          loadPage();
        }}, 'Older →'));
  }

  let timer = null;
  const setRefresh = (on) => {
    autoRefresh = on;
    if (timer) clearInterval(timer);
    timer = on ? setInterval(() => {
      loadPage();
      loadCounts();
    }, REFRESH_MS) : null;
  };
  refreshToggle.addEventListener('change', () => setRefresh(refreshToggle.checked));
  setRefresh(autoRefresh);
  await Promise.all([loadPage(), loadCounts()]);
  return () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
}
