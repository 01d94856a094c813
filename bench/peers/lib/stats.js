'use strict';
// Measurement helpers of loadgen.js:
//   CPU time per process / process tree (/proc), whole-machine busy time (/proc/stat),
//   block-device writes and cache flushes (/proc/diskstats: engine-agnostic "fsyncs that hit the disk"),
//   Postgres counters (pg_stat_database, pg_stat_wal, pg_stat_statements) and WAL record counts (pg_waldump).
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const CLK_TCK = Number((() => { try { return execFileSync('getconf', ['CLK_TCK']).toString(); } catch { return '100'; } })()) || 100;

function procStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return { ppid: Number(f[1]), cpuMs: (Number(f[11]) + Number(f[12])) * 1000 / CLK_TCK,
             reapedChildrenMs: (Number(f[13]) + Number(f[14])) * 1000 / CLK_TCK };
  } catch { return null; }
}
// A PID plus its children (the postmaster and its backends): own CPU + CPU of children already
// reaped (cutime/cstime) + CPU of live direct children. A child alive at the first snapshot and gone
// at the second moves from "live" to "reaped", so deltas stay right when connections come and go.
function treeCpuMs(root) {
  const r = procStat(root);
  if (!r) return NaN;
  let total = r.cpuMs + r.reapedChildrenMs;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === root) continue;
    const st = procStat(d);
    if (st && st.ppid === root) total += st.cpuMs;
  }
  return total;
}
function machineCpu() {
  const l = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = l[3] + (l[4] || 0), total = l.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busyMs: (total - idle) * 1000 / CLK_TCK, totalMs: total * 1000 / CLK_TCK };
}
// specs: ["label=pid", ...] (single process, all threads) and treeSpecs: ["label=pid", ...] (pid + children)
function cpuSnapshot(specs = [], treeSpecs = []) {
  const u = process.cpuUsage();
  const s = { loadgen: (u.user + u.system) / 1000, _machine: machineCpu() };
  for (const spec of specs) { const [l, p] = spec.split('='); s[l] = (procStat(Number(p)) || { cpuMs: NaN }).cpuMs; }
  for (const spec of treeSpecs) { const [l, p] = spec.split('='); s[l] = treeCpuMs(Number(p)); }
  return s;
}
function cpuDelta(a, b, units, wallMs) {
  const busy = b._machine.busyMs - a._machine.busyMs, span = b._machine.totalMs - a._machine.totalMs;
  const out = { machine_busy_pct: +(100 * busy / Math.max(1, span)).toFixed(1),
                machine_cores_busy: +(busy / Math.max(1, wallMs)).toFixed(2) };
  let accounted = 0;
  for (const k of Object.keys(a)) {
    if (k === '_machine') continue;
    const d = b[k] - a[k];
    accounted += d;
    out[`${k}_ms_per_unit`] = +(d / Math.max(1, units)).toFixed(3);
  }
  out.other_ms_per_unit = +((busy - accounted) / Math.max(1, units)).toFixed(3);
  return out;
}

// Block device that holds `dir` (e.g. vda), for /proc/diskstats.
function diskOf(dir) {
  try {
    const src = execFileSync('findmnt', ['-no', 'SOURCE', '--target', dir]).toString().trim();
    return path.basename(src.replace(/\[.*\]$/, ''));
  } catch { return null; }
}
function diskSnapshot(dev) {
  if (!dev) return null;
  for (const line of fs.readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[2] === dev) {
      const n = f.slice(3).map(Number);
      return { writes: n[4], sectors_written: n[6], flushes: n[15] || 0, flush_ms: n[16] || 0 };
    }
  }
  return null;
}
function diskDelta(a, b, units) {
  if (!a || !b) return null;
  const per = (x) => +(x / Math.max(1, units)).toFixed(3);
  return { writes_per_unit: per(b.writes - a.writes), flushes_per_unit: per(b.flushes - a.flushes),
           kb_written_per_unit: per((b.sectors_written - a.sectors_written) / 2),
           flushes: b.flushes - a.flushes, avg_flush_ms: +((b.flush_ms - a.flush_ms) / Math.max(1, b.flushes - a.flushes)).toFixed(3) };
}

async function pgConnect(url) {
  if (!url) return null;
  const { Client } = require('pg');
  const c = new Client({ connectionString: url, application_name: 'bench-stats' });
  await c.connect();
  return c;
}
async function pgSnapshot(pg, dbname) {
  if (!pg) return null;
  const db = (await pg.query(
    `select xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched
       from pg_stat_database where datname = $1`, [dbname])).rows[0] || {};
  const wal = (await pg.query(`select wal_records, wal_fpi, wal_bytes, wal_write, wal_sync from pg_stat_wal`)).rows[0];
  const lsn = (await pg.query(`select pg_current_wal_lsn()::text as lsn`)).rows[0].lsn;
  const num = (x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Number(v)]));
  return { db: num(db), wal: num(wal), lsn };
}
async function pgssReset(pg) {
  if (!pg) return false;
  try { await pg.query('select pg_stat_statements_reset()'); return true; } catch { return false; }
}
// Exact count of statements (client round trips, BEGIN/COMMIT included) run in `dbname` since the
// last reset; pg_stat_statements updates shared memory as each statement ends, so no flush lag.
async function pgssTotalCalls(pg, dbname) {
  try {
    const r = await pg.query(`select coalesce(sum(s.calls), 0)::bigint as n from pg_stat_statements s
                                join pg_database d on d.oid = s.dbid where d.datname = $1`, [dbname]);
    return Number(r.rows[0].n);
  } catch { return null; }
}
async function pgssTop(pg, dbname, units, limit = 20) {
  try {
    const r = await pg.query(
      `select s.calls, s.total_exec_time, s.wal_records, s.query
         from pg_stat_statements s join pg_database d on d.oid = s.dbid
        where d.datname = $1 order by s.calls desc limit $2`, [dbname, limit]);
    return r.rows.map((x) => ({
      calls_per_unit: +(Number(x.calls) / Math.max(1, units)).toFixed(3),
      mean_ms: +(x.total_exec_time / Math.max(1, Number(x.calls))).toFixed(3),
      wal_records_per_call: +(Number(x.wal_records) / Math.max(1, Number(x.calls))).toFixed(2),
      query: x.query.replace(/\s+/g, ' ').slice(0, 200),
    }));
  } catch { return null; }
}
// WAL records by type between two LSNs. "Transaction/COMMIT" counts transactions that wrote
// something (read-only transactions write no commit record).
function walRecordStats({ pgdata, pgBin, pgOsUser }, start, end) {
  if (!pgdata || start === end) return null;
  try {
    const out = execFileSync('runuser', ['-u', pgOsUser, '--', path.join(pgBin, 'pg_waldump'),
      `--path=${path.join(pgdata, 'pg_wal')}`, `--start=${start}`, `--end=${end}`, '--stats=record'],
      { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).toString();
    const counts = {};
    for (const line of out.split('\n')) {
      const m = line.match(/^(\S+\/\S+)\s+(\d+)\s+\(/);
      if (m) counts[m[1]] = Number(m[2]);
    }
    return counts;
  } catch (e) { return { error: String(e.stderr || e.message).slice(0, 300) }; }
}
function pgDelta(p0, p1, units, walRecs, statements, dbname, statementCalls = null) {
  if (!p0 || !p1) return null;
  const d = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]));
  const dd = d(p0.db, p1.db), dw = d(p0.wal, p1.wal);
  const per = (x) => +(x / Math.max(1, units)).toFixed(3);
  return {
    db: dbname, lsn_start: p0.lsn, lsn_end: p1.lsn, delta_db: dd, delta_wal: dw,
    per_unit: {
      xact_commit: per(dd.xact_commit), xact_rollback: per(dd.xact_rollback),
      rows_written: per(dd.tup_inserted + dd.tup_updated + dd.tup_deleted),
      tup_inserted: per(dd.tup_inserted), tup_updated: per(dd.tup_updated), tup_deleted: per(dd.tup_deleted),
      wal_records: per(dw.wal_records), wal_bytes: per(dw.wal_bytes), wal_fpi: per(dw.wal_fpi),
      wal_fsyncs: per(dw.wal_sync),
      commit_records: walRecs && !walRecs.error ? per(walRecs['Transaction/COMMIT'] || 0) : null,
      statements: statementCalls === null ? null : per(statementCalls),
    },
    wal_record_types: walRecs,
    statements,
  };
}

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
function latencySummary(sortedMs) {
  const r = (x) => +Number(x).toFixed(2);
  return { p50: r(pct(sortedMs, 50)), p90: r(pct(sortedMs, 90)), p99: r(pct(sortedMs, 99)),
           max: r(sortedMs[sortedMs.length - 1] ?? NaN),
           mean: r(sortedMs.reduce((a, b) => a + b, 0) / Math.max(1, sortedMs.length)) };
}

module.exports = { cpuSnapshot, cpuDelta, diskOf, diskSnapshot, diskDelta, pgConnect, pgSnapshot, pgssReset,
                   pgssTop, pgssTotalCalls, walRecordStats, pgDelta, latencySummary };
