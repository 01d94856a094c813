#!/usr/bin/env node
'use strict';
// Prints the peer rows of bench/run.sh's table from the JSON files loadgen.js left in a results folder,
// and, given our sagas/s per concurrency, our ratio to the fastest peer at each equal concurrency:
//   node summarize.js RESULTS_DIR ["C=SAGAS_PER_S ..."]   e.g. "1=185.0 16=624.7 64=809.7 256=858.6"
// Every other figure loadgen.js measured (CPU and PostgreSQL work per saga, ...) stays in the JSON files.
const fs = require('node:fs');
const path = require('node:path');

const [dir, oursArg = ''] = process.argv.slice(2);
if (!dir) { console.error('usage: node summarize.js RESULTS_DIR ["C=SAGAS_PER_S ..."]'); process.exit(2); }
const ours = new Map(oursArg.split(/\s+/).filter(Boolean).map((pair) => {
  const [c, rate] = pair.split('=');
  return [Number(c), Number(rate)];
}));

const runs = fs.readdirSync(dir).filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')))
  .filter((r) => r.kind === 'saga')
  .sort((a, b) => a.label.localeCompare(b.label) || a.concurrency - b.concurrency);
const out = ['', '| peer (same run, bench/peers) | C | sagas/s | p50 ms | p99 ms | errors |', '|---|---:|---:|---:|---:|---:|'];
// The fastest peer at each concurrency (runs with injected failures do not count).
const fastest = new Map();
for (const r of runs) {
  out.push(`| ${r.label} | ${r.concurrency} | ${r.sagas_per_s} | ${r.latency_ms.p50} | ${r.latency_ms.p99} | ${r.sagas_failed_requests + r.outcome_mismatches} |`);
  const best = fastest.get(r.concurrency);
  if (!r.fail_every && (!best || r.sagas_per_s > best.sagas_per_s)) fastest.set(r.concurrency, r);
}
const compared = [...ours.keys()].filter((c) => fastest.has(c)).sort((a, b) => a - b);
if (compared.length > 0) {
  out.push('', '| C | ours sagas/s | fastest peer at C | its sagas/s | ours / fastest peer |', '|---:|---:|---|---:|---:|');
  for (const c of compared) {
    const peer = fastest.get(c);
    out.push(`| ${c} | ${ours.get(c)} | ${peer.label} | ${peer.sagas_per_s} | ${(ours.get(c) / peer.sagas_per_s).toFixed(2)}x |`);
  }
}
console.log(out.join('\n'));
