// What the console's browser tests run against: a database per orchestrator
// in the private PostgreSQL cluster scripts/test.sh starts (its superuser
// DSN in SAGA_TEST_ADMIN_DSN), the participants (patient, doctor, email, and
// a second saga-doctor whose compensation always fails), orchestrators with
// --console-listen on free ports, and Debian's chromium through
// playwright-core. Everything started here is stopped by stopAll().

import {spawn, spawnSync} from 'node:child_process';
import {createHash, randomBytes} from 'node:crypto';
import {createWriteStream, mkdirSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import net from 'node:net';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const buildDir = process.env.SAGA_BUILD_DIR || path.join(root, 'build');
export const workDir = path.join(buildDir, 'console-tests');
export const screenshotDir = path.join(workDir, 'screenshots');
const logDir = path.join(workDir, 'logs');
const psql = process.env.PSQL || '/usr/lib/postgresql/15/bin/psql';
const started = [];
const databases = [];
// If the test process dies without stopAll (a crash, an uncaught error),
// its services die with it rather than linger.
process.on('exit', () => {
  for (const {child} of started) child.kill('SIGKILL');
});

export function adminDsn() {
  const dsn = process.env.SAGA_TEST_ADMIN_DSN;
  if (!dsn) throw new Error('SAGA_TEST_ADMIN_DSN is not set: run through scripts/test.sh, or start scripts/pg.sh and source its env');
  return dsn;
}

function dsnFor(database) {
  return `${adminDsn().replace(/\bdbname=\S+/, '').trim()} dbname=${database}`;
}

export function sql(database, statement) {
  const result = spawnSync(psql, ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', dsnFor(database), '-c', statement], {encoding: 'utf8'});
  if (result.status !== 0) throw new Error(`psql on ${database} failed: ${result.stderr}`);
  return result.stdout.trim();
}

export function createDatabase(prefix) {
  const name = `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
  sql('postgres', `CREATE DATABASE ${name}`);
  databases.push(name);
  return name;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address();
      server.close(() => resolve(port));
    });
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function until(what, check, timeoutMs = 20000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

// Starts a binary of the build, logging to logs/<name>.log, and waits until
// each of `ports` accepts connections.
async function startService(name, binary, args, ports) {
  mkdirSync(logDir, {recursive: true});
  const log = createWriteStream(path.join(logDir, `${name}.log`));
  const child = spawn(path.join(buildDir, 'bin', binary), args, {stdio: ['ignore', 'pipe', 'pipe']});
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  child.once('exit', (code, signal) => {
    exited = `${code ?? signal}`;
  });
  started.push({name, child, exitedRef: () => exited});
  for (const port of ports) {
    await until(`${name} on port ${port}`, async () => {
      if (exited !== null) throw new Error(`${name} exited (${exited}) during start-up: see ${logDir}/${name}.log`);
      return portOpen(port);
    }, 30000);
  }
  return child;
}

async function startParticipant(name, binary, database, extra = []) {
  const port = await freePort();
  await startService(name, binary, ['--listen', `127.0.0.1:${port}`, '--db', dsnFor(database),
    '--migrations', path.join(root, 'migrations', binary.replace('saga-', '')), ...extra], [port]);
  if (binary === 'saga-doctor') {
    // The seed calendar is fixed and saga-doctor books no day before
    // today: open the next 30 days for every doctor.
    sql(database, `INSERT INTO doctor_days (doctor_id, day, capacity)
        SELECT d.id, g.day::date, 1000 FROM doctors d
        CROSS JOIN generate_series(current_date, current_date + 30, interval '1 day') AS g (day)
        ON CONFLICT (doctor_id, day) DO NOTHING`);
  }
  return `127.0.0.1:${port}`;
}

// patient, doctor, email and doctor_broken (a saga-doctor whose
// release_reservation always fails), each with its own database.
export async function startParticipants() {
  const [patient, doctor, email, doctorBroken] = await Promise.all([
    startParticipant('patient', 'saga-patient', createDatabase('console_patient')),
    startParticipant('doctor', 'saga-doctor', createDatabase('console_doctor')),
    startParticipant('email', 'saga-email', createDatabase('console_email')),
    startParticipant('doctor_broken', 'saga-doctor', createDatabase('console_doctor_broken'),
        ['--fail-rate', 'release_reservation=1']),
  ]);
  return {patient, doctor, email, doctor_broken: doctorBroken};
}

// An orchestrator with its own database and the console on; `tokens`:
// [{name, role}] for a tokens file (each gets a random token, returned).
export async function startOrchestrator(name, participants, tokens = []) {
  const database = createDatabase(`console_${name}`);
  const grpcPort = await freePort();
  const consolePort = await freePort();
  const args = ['--listen', `127.0.0.1:${grpcPort}`, '--db', dsnFor(database),
    '--definitions', path.join(root, 'tests', 'testdata', 'console'), '--migrations', path.join(root, 'migrations', 'orchestrator'),
    '--console-listen', `127.0.0.1:${consolePort}`];
  for (const [participant, address] of Object.entries(participants)) args.push('--participant', `${participant}=${address}`);
  const secrets = {};
  if (tokens.length) {
    const lines = ['tokens:'];
    for (const {name: tokenName, role} of tokens) {
      secrets[tokenName] = randomBytes(24).toString('hex');
      lines.push(`  - {name: ${tokenName}, role: ${role}, sha256: ${createHash('sha256').update(secrets[tokenName]).digest('hex')}}`);
    }
    mkdirSync(workDir, {recursive: true});
    const file = path.join(workDir, `${name}-tokens.yaml`);
    writeFileSync(file, `${lines.join('\n')}\n`, {mode: 0o600});
    args.push('--tokens-file', file);
  }
  await startService(`orchestrator_${name}`, 'saga-orchestrator', args, [grpcPort, consolePort]);
  const url = `http://127.0.0.1:${consolePort}`;
  return {url, database, tokens: secrets, api: (method, body, token) => api(url, method, body, token)};
}

// One call of the console's HTTP API, as the pages make it.
export async function api(url, method, body = {}, token = '') {
  const headers = {'Content-Type': 'application/json'};
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${url}/api/v1/${method}`, {method: 'POST', headers, body: JSON.stringify(body)});
  const json = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(`${method}: HTTP ${response.status} ${json.code}: ${json.message}`);
    error.code = json.code;
    error.status = response.status;
    throw error;
  }
  return json;
}

// The 20,000-event saga: a completed console_single saga whose history gets
// 6,666 failed attempts (StepStarted, StepFailed, RetryScheduled, 3 ms
// apart) inserted before its successful one, as a step failing for half a
// minute with a tiny backoff would leave.
export function lengthenHistory(database, sagaId, failedAttempts) {
  const n = failedAttempts;
  sql(database, `
    BEGIN;
    UPDATE saga_events SET seq = -seq WHERE saga_id = '${sagaId}' AND seq >= 2;
    UPDATE saga_events SET seq = -seq + ${3 * n},
        attempt = CASE WHEN step >= 0 THEN ${n + 1} ELSE attempt END,
        at_ms = at_ms + ${3 * n}, recorded_at = recorded_at + interval '${3 * n} milliseconds'
      WHERE saga_id = '${sagaId}' AND seq < 0;
    INSERT INTO saga_events (saga_id, seq, type, step, attempt, data, at_ms, recorded_at)
      SELECT '${sagaId}', 2 + 3 * (i - 1) + k,
             (ARRAY['StepStarted', 'StepFailed', 'RetryScheduled'])[k + 1], 0,
             CASE WHEN k = 2 THEN i + 1 ELSE i END,
             CASE k WHEN 0 THEN '{}'::jsonb
                    WHEN 1 THEN jsonb_build_object('error', 'patient service unavailable (try ' || i || ')',
                                                   'retryable', true, 'outcome_unknown', false)
                    ELSE jsonb_build_object('due_ms', (SELECT at_ms FROM saga_events WHERE saga_id = '${sagaId}' AND seq = 1) + 3 * i) END,
             (SELECT at_ms FROM saga_events WHERE saga_id = '${sagaId}' AND seq = 1) + 3 * (i - 1) + k,
             to_timestamp(((SELECT at_ms FROM saga_events WHERE saga_id = '${sagaId}' AND seq = 1) + 3 * (i - 1) + k) / 1000.0)
        FROM generate_series(1, ${n}) AS i, generate_series(0, 2) AS k;
    UPDATE sagas SET last_seq = last_seq + ${3 * n} WHERE saga_id = '${sagaId}';
    COMMIT;`);
}

export async function launchBrowser() {
  const require = createRequire(path.join(process.env.CONSOLE_NODE_MODULES || path.join(workDir, 'node_modules'), 'noop.js'));
  const {chromium} = require('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

export async function stopAll() {
  await Promise.all(started.reverse().map(({child, exitedRef}) => new Promise((resolve) => {
    if (exitedRef() !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  })));
  started.length = 0;
  // Each DROP DATABASE waits for a checkpoint; dropped together they share
  // checkpoints. A database left behind only costs disk in a throwaway
  // cluster, so a failure is a warning.
  await Promise.all(databases.splice(0).map((name) => new Promise((resolve) => {
    const drop = spawn(psql, ['-X', '-q', '-d', dsnFor('postgres'), '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`],
        {stdio: ['ignore', 'ignore', 'inherit']});
    drop.once('exit', (code) => {
      if (code !== 0) console.error(`warning: cannot drop test database ${name}`);
      resolve();
    });
  })));
}
