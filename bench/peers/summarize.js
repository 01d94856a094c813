#!/usr/bin/env node
'use strict';
// Prints the peer rows of bench/run.sh's table from the JSON files loadgen.js left in a results folder,
// and, given our best sagas/s, its ratio to the fastest peer:
//   node summarize.js RESULTS_DIR [OUR_BEST_SAGAS_PER_S]
// Every other figure loadgen.js measured (CPU and PostgreSQL work per saga, ...) stays in the JSON files.
const fs = require('node:fs');
const path = require('node:path');

const [dir, ours] = process.argv.slice(2);
if (!dir) { console.error('usage: node summarize.js RESULTS_DIR [OUR_BEST_SAGAS_PER_S]'); process.exit(2); }

const runs = fs.readdirSync(dir).filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')))
  .filter((r) => r.kind === 'saga')
  .sort((a, b) => a.label.localeCompare(b.label) || a.concurrency - b.concurrency);
const out = ['', '| peer (same run, bench/peers) | C | sagas/s | p50 ms | p99 ms | errors |', '|---|---:|---:|---:|---:|---:|'];
let best = null;
for (const r of runs) {
  out.push(`| ${r.label} | ${r.concurrency} | ${r.sagas_per_s} | ${r.latency_ms.p50} | ${r.latency_ms.p99} | ${r.sagas_failed_requests + r.outcome_mismatches} |`);
  if (!r.fail_every && (!best || r.sagas_per_s > best.sagas_per_s)) best = r;
}
if (best && Number(ours) > 0) {
  out.push('', `ours / fastest peer (${best.label}, C=${best.concurrency}): ${(Number(ours) / best.sagas_per_s).toFixed(2)}x`);
}
console.log(out.join('\n'));
