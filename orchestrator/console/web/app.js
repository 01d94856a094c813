// The console's entry point: who is signed in (WhoAmI), the sign-in form
// when the orchestrator wants a token, the warning banner when it does not,
// and hash routing to the pages:
//   #/sagas?filters      saga list       #/sagas/<id>        one saga
//   #/participants       participants    #/definitions[/<type>] definitions
// No framework and no build step: the files here are what the browser runs.

import {call, session, setUnauthenticatedHandler} from './api.js';
import {renderDefinitions} from './definitions.js';
import {errorBox, h} from './dom.js';
import {renderList} from './list.js';
import {renderParticipants} from './participants.js';
import {renderSaga} from './saga.js';

const main = document.getElementById('main');
const ctx = {whoami: null, isOperator: false};
let cleanup = null;
let renderCount = 0;

function showBanner() {
  const banner = document.getElementById('banner');
  banner.replaceChildren();
  if (ctx.whoami && !ctx.whoami.authenticationEnabled) {
    banner.append(h('p', {class: 'banner-warning', role: 'alert'},
        'Authentication is off: anyone who can reach this port can repair sagas'));
  }
}

function showWho() {
  const who = document.getElementById('who');
  who.replaceChildren();
  if (!ctx.whoami || !ctx.whoami.authenticationEnabled) return;
  who.append(`Signed in as ${ctx.whoami.name} (${ctx.whoami.role}) `,
      h('button', {type: 'button', class: 'link-button', onclick: () => {
        session.signOut();
        location.reload();
      }}, 'Sign out'));
}

function showSignIn(message) {
  if (cleanup) cleanup();
  cleanup = null;
  ctx.whoami = null;
  document.getElementById('who').replaceChildren();
  const input = h('input', {type: 'password', id: 'token', name: 'token', autocomplete: 'off',
    required: true, 'aria-label': 'Bearer token'});
  const form = h('form', {class: 'sign-in', onsubmit: async (event) => {
    event.preventDefault();
    session.signIn(input.value.trim());
    input.value = '';
    await start();
  }},
  h('h1', {}, 'Sign in'),
  h('p', {}, 'This orchestrator requires a bearer token. It is kept in this tab only (session storage).'),
  message ? errorBox(message) : null,
  h('label', {for: 'token'}, 'Token'), input,
  h('button', {type: 'submit'}, 'Sign in'));
  main.replaceChildren(form);
  input.focus();
}

async function route() {
  if (!ctx.whoami) return;
  if (cleanup) cleanup();
  cleanup = null;
  const hash = location.hash.replace(/^#\/?/, '') || 'sagas';
  const [path, queryText] = hash.split('?');
  const parts = path.split('/').map(decodeURIComponent);
  const query = new URLSearchParams(queryText || '');
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('active', link.dataset.nav === parts[0]);
  }
  const container = h('div', {class: 'page'});
  main.replaceChildren(container);
  const token = ++renderCount;
  const isCurrent = () => token === renderCount;
  try {
    let stop;
    if (parts[0] === 'sagas' && parts[1]) stop = await renderSaga(container, parts[1], ctx, isCurrent);
    else if (parts[0] === 'participants') stop = await renderParticipants(container, ctx, isCurrent);
    else if (parts[0] === 'definitions') stop = await renderDefinitions(container, parts[1] || '', ctx, isCurrent);
    else stop = await renderList(container, query, ctx, isCurrent);
    // A page left while it loaded stops its timers at once.
    if (isCurrent()) cleanup = stop;
    else if (stop) stop();
  } catch (error) {
    if (isCurrent()) container.replaceChildren(errorBox(error));
  }
}

async function start() {
  try {
    ctx.whoami = await call('WhoAmI');
  } catch (error) {
    if (error.code === 'UNAUTHENTICATED') return;  // the handler shows the form
    main.replaceChildren(errorBox(error));
    return;
  }
  if (ctx.whoami.authenticationEnabled && !ctx.whoami.role) {
    showSignIn(session.token() ? {message: 'The token was not accepted.'} : null);
    return;
  }
  ctx.isOperator = !ctx.whoami.authenticationEnabled || ctx.whoami.role === 'operator';
  showBanner();
  showWho();
  await route();
}

setUnauthenticatedHandler((error) => {
  const hadToken = Boolean(session.token());
  session.signOut();
  showSignIn(hadToken ? {code: error.code, message: 'The token was not accepted.'} : null);
});
window.addEventListener('hashchange', route);
document.getElementById('goto').addEventListener('submit', (event) => {
  event.preventDefault();
  const id = event.target.elements.saga.value.trim();
  if (id) location.hash = `#/sagas/${encodeURIComponent(id)}`;
});
start();
