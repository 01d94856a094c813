// Participants: each one's circuit, calls in flight and parked (as the
// answering instance sees them), last minute's error rate and its pause,
// with pause / resume for operators (a reason and a confirmation each).

import {call} from './api.js';
import {confirmWithReason} from './dialog.js';
import {add, enumName, errorBox, formatTime, h, num} from './dom.js';

export async function renderParticipants(root, ctx, isCurrent) {
  const body = h('tbody', {});
  const messages = h('div', {});
  add(root, h('h1', {}, 'Participants'), messages,
      h('table', {class: 'grid-table participants'},
          h('thead', {}, h('tr', {}, ['Participant', 'Address', 'Circuit', 'In flight', 'Parked', 'Calls (1 min)', 'Error rate', 'Paused', ''].map((c) => h('th', {}, c)))),
          body));
  const operatorName = (ctx.whoami && ctx.whoami.name) || 'console';

  const load = async () => {
    let response;
    try {
      response = await call('ListParticipants');
    } catch (error) {
      if (isCurrent()) body.replaceChildren(h('tr', {}, h('td', {colspan: 9}, errorBox(error))));
      return;
    }
    if (!isCurrent()) return;
    body.replaceChildren(...(response.participants || []).map((p) => {
      const circuit = enumName(p.circuit, 'CIRCUIT_STATE_');
      const paused = p.pause && (p.pause.pausedBy || p.pause.reason || num(p.pause.sinceUnixMs));
      const act = async (method, title, explanation, required) => {
        const answer = await confirmWithReason(title, explanation, {required});
        if (!answer) return;
        try {
          await call(method, {participant: p.name, operator: {name: operatorName, reason: answer.reason}});
          messages.replaceChildren(h('p', {class: 'ok-box', role: 'status'}, `${title}: done.`));
        } catch (error) {
          messages.replaceChildren(errorBox(error));
        }
        await load();
      };
      const button = !ctx.isOperator ? null : paused ?
        h('button', {type: 'button', onclick: () => act('ResumeParticipant', `Resume ${p.name}`, 'Its parked calls go at once.', false)}, 'Resume…') :
        h('button', {type: 'button', class: 'danger', onclick: () => act('PauseParticipant', `Pause ${p.name}`,
            'No orchestrator instance sends it a call until resumed; its sagas wait without using attempts.', true)}, 'Pause…');
      return h('tr', {},
          h('td', {}, p.name), h('td', {class: 'mono'}, p.address),
          h('td', {}, h('span', {class: `badge circuit-${circuit.toLowerCase()}`}, circuit)),
          h('td', {class: 'num'}, p.callsInFlight || 0), h('td', {class: 'num'}, num(p.callsParked)),
          h('td', {class: 'num'}, `${num(p.failuresLastMinute)} failed of ${num(p.callsLastMinute)}`),
          h('td', {class: 'num'}, `${(Number(p.errorRateLastMinute || 0) * 100).toFixed(1)} %`),
          h('td', {}, paused ? `paused by ${p.pause.pausedBy} since ${formatTime(p.pause.sinceUnixMs)}: ${p.pause.reason}` : 'no'),
          h('td', {}, button));
    }));
  };
  await load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}
