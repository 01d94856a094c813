// DOM helpers. Every value that may come from saga data (inputs, outputs,
// errors, names) reaches the page as a text node or an attribute value set
// through the DOM, never as HTML: nothing here parses markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function setAttributes(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

// Appends nodes and strings, skipping null/undefined/false and flattening
// arrays (Element.append would print them).
export function add(el, ...children) {
  appendChildren(el, children);
  return el;
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// h('a', {href: '#/x', class: 'link'}, 'text', otherNode)
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  appendChildren(el, children);
  return el;
}

// The same for SVG elements.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttributes(el, attrs);
  appendChildren(el, children);
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// "SAGA_STATUS_COMPLETED" -> "COMPLETED".
export function enumName(value, prefix) {
  const text = String(value || '');
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

export function statusBadge(status) {
  const name = enumName(status, 'SAGA_STATUS_') || 'UNKNOWN';
  return h('span', {class: `badge status-${name.toLowerCase()}`}, name);
}

// int64 fields arrive as strings in proto3 JSON.
export function num(value) {
  const n = Number(value || 0);
  return Number.isFinite(n) ? n : 0;
}

// Unix ms -> "2026-12-06 19:40:01.123Z" (UTC, so every operator reads the
// same time); '' for 0.
export function formatTime(ms) {
  const n = num(ms);
  if (!n) return '';
  return new Date(n).toISOString().replace('T', ' ');
}

export function formatDuration(ms) {
  const n = Math.max(0, num(ms));
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(n < 10000 ? 2 : 1)} s`;
  if (n < 3600000) return `${Math.floor(n / 60000)} min ${Math.round((n % 60000) / 1000)} s`;
  return `${(n / 3600000).toFixed(1)} h`;
}

// A JSON document shown as indented text; the text itself if it does not
// parse.
export function prettyJson(text) {
  if (!text) return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return String(text);
  }
}

export function sagaLink(sagaId) {
  return h('a', {href: `#/sagas/${encodeURIComponent(sagaId)}`, class: 'mono'}, sagaId);
}

export function errorBox(error) {
  const code = error && error.code ? `${error.code}: ` : '';
  return h('p', {class: 'error-box', role: 'alert'}, code + (error && error.message ? error.message : String(error)));
}
