#!/usr/bin/env node
// Evaluates tests/flags_js/vectors.json with flagd's own evaluator (@openfeature/flagd-core,
// pinned in package-lock.json) and checks that it gives the recorded results, which the C++
// evaluator is held to by tests/unit/flags/vectors_test.cpp. Together: both agree on every vector.
//   node evaluate.js vectors.json            check (exit 0 all agree, 1 a difference, 77 skip)
//   node evaluate.js vectors.json --record   (re)write the "expect" fields from flagd-core
'use strict';
const fs = require('fs');
const path = require('path');

let FlagdCore;
try {
  ({ FlagdCore } = require(path.join(__dirname, 'node_modules', '@openfeature', 'flagd-core')));
} catch (err) {
  console.log(`SKIP: @openfeature/flagd-core is not installed in ${__dirname}/node_modules (scripts/bootstrap.sh runs npm ci): ${err.message}`);
  process.exit(77);
}

const silent = { error() {}, warn() {}, info() {}, debug() {} };
const defaults = { boolean: false, string: '', number: 0, object: {} };

function core(document) {
  const flagd = new FlagdCore(undefined, silent);
  flagd.setConfigurations(JSON.stringify(document));
  return flagd;
}

function resolve(flagd, flag, type, context) {
  const r = flagd.resolve(type, flag, defaults[type], context || {});
  const hasVariant = r.variant !== undefined && r.variant !== null;
  return {
    variant: hasVariant ? r.variant : null,
    value: hasVariant ? r.value : null,
    reason: r.reason,
    errorCode: r.errorCode || null,
    metadata: r.flagMetadata || {},
  };
}

// A rule's result through a flag whose only variant it never names: flagd-core reports the
// result's string in its "variant not found" message, null as DEFAULT, a throw as GENERAL.
function probe(rule, context) {
  let flagd;
  try {
    flagd = core({ flags: { probe: { state: 'ENABLED', variants: { '\u0000sentinel': 's' }, defaultVariant: '\u0000sentinel', targeting: rule } } });
  } catch (err) {
    return { outcome: 'parse_error' };
  }
  const r = flagd.resolve('string', 'probe', '', context || {});
  if (r.errorCode === 'PARSE_ERROR') return { outcome: 'parse_error' };
  if (r.reason === 'DEFAULT') return { outcome: 'null' };
  const m = /^Variant '([\s\S]*)' not found in flag with key 'probe'$/.exec(r.errorMessage || '');
  if (m) return { outcome: 'value', text: m[1] };
  if (r.errorCode === 'GENERAL') return { outcome: 'error' };
  return { outcome: 'unexpected', detail: r };
}

function fnv1a64(text) {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

function sweep(vectors, s) {
  const flagd = core(vectors.sets[s.set]);
  const counts = {};
  const variants = [];
  for (let i = 0; i < s.keys.count; i++) {
    const r = flagd.resolve(s.type, s.flag, defaults[s.type], { targetingKey: `${s.keys.prefix}${i}` });
    const v = r.variant === undefined || r.variant === null ? '-' : r.variant;
    counts[v] = (counts[v] || 0) + 1;
    variants.push(v);
  }
  return { counts, digest: fnv1a64(variants.join('\n')), variants };
}

function rejected(r) {
  try {
    const flagd = core(r.document);
    const got = flagd.resolve('string', r.flag, '', {});
    if (got.errorCode === 'PARSE_ERROR') return { flagd: 'PARSE_ERROR' };
    return { flagd: 'accepted', detail: got };
  } catch (err) {
    return { flagd: 'throws' };
  }
}

// The vectors one per line (as make_vectors.py writes them), so a change shows as a readable diff.
function compact(vectors) {
  const lines = Object.entries(vectors).map(([key, value]) => {
    if (Array.isArray(value)) return ` ${JSON.stringify(key)}: [\n${value.map((v) => '  ' + JSON.stringify(v)).join(',\n')}\n ]`;
    if (key === 'sets' || key === 'contexts') {
      const entries = Object.entries(value).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
      return ` ${JSON.stringify(key)}: {\n${entries.join(',\n')}\n }`;
    }
    return ` ${JSON.stringify(key)}: ${JSON.stringify(value)}`;
  });
  return `{\n${lines.join(',\n')}\n}\n`;
}

function main() {
  const file = process.argv[2];
  const record = process.argv.includes('--record');
  const vectors = JSON.parse(fs.readFileSync(file, 'utf8'));
  let differences = 0;
  let total = 0;
  const check = (name, got, want) => {
    total++;
    if (record) return got;
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      differences++;
      console.log(`DIFF ${name}\n  flagd-core: ${JSON.stringify(got)}\n  recorded:   ${JSON.stringify(want)}`);
    }
    return want;
  };
  vectors.logic.forEach((c, i) => { c.expect = check(`logic[${i}] ${c.name}`, probe(c.rule, vectors.contexts[c.context]), c.expect); });
  vectors.cases.forEach((c, i) => {
    c.expect = check(`cases[${i}] ${c.name}`, resolve(core(vectors.sets[c.set]), c.flag, c.type, c.context), c.expect);
  });
  const sweeps = {};
  vectors.sweeps.forEach((s, i) => {
    const got = sweep(vectors, s);
    sweeps[s.name] = got.variants;
    s.expect = check(`sweeps[${i}] ${s.name}`, { counts: got.counts, digest: got.digest }, s.expect);
  });
  vectors.monotonic.forEach((m, i) => {
    total++;
    const before = sweeps[m.before];
    const after = sweeps[m.after];
    const lost = before.filter((v, k) => v === m.variant && after[k] !== m.variant).length;
    if (lost > 0) { differences++; console.log(`DIFF monotonic[${i}]: ${lost} keys were ${m.variant} and are not any more`); }
  });
  vectors.rejected.forEach((r, i) => {
    total++;
    const got = rejected(r);
    if (got.flagd === 'accepted') { differences++; console.log(`DIFF rejected[${i}] ${r.name}: flagd-core accepts it: ${JSON.stringify(got.detail)}`); }
  });
  if (record) {
    fs.writeFileSync(file, compact(vectors));
    console.log(`recorded ${total} vectors from flagd-core`);
    return;
  }
  console.log(`${total - differences} of ${total} vectors agree with @openfeature/flagd-core`);
  process.exit(differences === 0 ? 0 : 1);
}

main();
