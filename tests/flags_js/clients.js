#!/usr/bin/env node
// Real OpenFeature clients against a real agent (issue 13, point 3), run by the integration test
// tests/integration/flags_agent_test.cpp:
//   - @openfeature/server-sdk with @openfeature/ofrep-provider, pointed at the agent's OFREP
//     endpoint (base URL http://127.0.0.1:PORT/apps/APP);
//   - @openfeature/server-sdk with @openfeature/flagd-provider in-process, reading the agent's
//     flags.json (offlineFlagSourcePath), with the host's `$flotilla` added to the context by the
//     app, as docs/flags.md says.
// Each case evaluates one flag for one context through both; both must give the value the case
// expects (when it names one) and agree with each other.
//   node clients.js BASE_URL FLAGS_JSON CASES_JSON
// CASES_JSON: {"flotilla": {...the host's $flotilla...},
//              "cases": [{"flag", "type": boolean|string|number|object, "default", "context",
//                         "expect"?}]}
// Exit 0 all agree, 1 a difference, 77 skip (no modules: scripts/bootstrap.sh runs npm ci).
'use strict';
const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, 'node_modules');
let OpenFeature, OFREPProvider, FlagdProvider;
try {
  ({ OpenFeature } = require(path.join(modules, '@openfeature', 'server-sdk')));
  ({ OFREPProvider } = require(path.join(modules, '@openfeature', 'ofrep-provider')));
  ({ FlagdProvider } = require(path.join(modules, '@openfeature', 'flagd-provider')));
} catch (err) {
  console.log(`SKIP: the OpenFeature npm packages are not installed in ${modules} (scripts/bootstrap.sh runs npm ci): ${err.message}`);
  process.exit(77);
}

const [baseUrl, flagsFile, casesFile] = process.argv.slice(2);
if (!casesFile) {
  console.error('usage: node clients.js BASE_URL FLAGS_JSON CASES_JSON');
  process.exit(2);
}
const { flotilla, cases } = JSON.parse(fs.readFileSync(casesFile, 'utf8'));

const getters = {
  boolean: 'getBooleanDetails',
  string: 'getStringDetails',
  number: 'getNumberDetails',
  object: 'getObjectDetails',
};

async function evaluate(client, c, extra) {
  const context = Object.assign({}, c.context || {}, extra || {});
  return client[getters[c.type]](c.flag, c.default, context);
}

async function main() {
  await OpenFeature.setProviderAndWait('ofrep', new OFREPProvider({ baseUrl }));
  await OpenFeature.setProviderAndWait(
    'file',
    new FlagdProvider({ resolverType: 'in-process', offlineFlagSourcePath: flagsFile }),
  );
  const ofrep = OpenFeature.getClient('ofrep');
  const file = OpenFeature.getClient('file');
  let failures = 0;
  for (const c of cases) {
    const viaOfrep = await evaluate(ofrep, c);
    const viaFile = await evaluate(file, c, { $flotilla: flotilla });
    const name = `${c.flag} ${JSON.stringify(c.context || {})}`;
    const same = JSON.stringify(viaOfrep.value) === JSON.stringify(viaFile.value) &&
                 viaOfrep.variant === viaFile.variant;
    const expected = !('expect' in c) || JSON.stringify(viaOfrep.value) === JSON.stringify(c.expect);
    if (!same || !expected || viaOfrep.errorCode || viaFile.errorCode) {
      ++failures;
      console.log(`DIFF ${name}: ofrep ${JSON.stringify(viaOfrep)} file ${JSON.stringify(viaFile)}` +
                  ('expect' in c ? ` expected ${JSON.stringify(c.expect)}` : ''));
    }
  }
  await OpenFeature.close();
  console.log(`${cases.length - failures}/${cases.length} cases agree (ofrep ${baseUrl}, file ${flagsFile})`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(`clients.js: ${err.stack || err}`);
  process.exit(1);
});
