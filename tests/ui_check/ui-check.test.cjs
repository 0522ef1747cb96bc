// Self-test of ui-check.cjs (tests/ui_check/run.sh --self-test): against pages served here, that
// it drives the real Chromium, and that a missing piece fails the check with the step's name and a
// screenshot. Against a real KFP UI it runs as `make ui-check`. These pages are not KFP: they
// only show, or fail to show, what the first steps look for.
'use strict';

const assert = require('node:assert');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { test } = require('node:test');

function serve(routes) {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      const route = routes[req.url.split('?')[0]];
      res.writeHead(route ? 200 : 404, { 'Content-Type': route && route.type ? route.type : 'text/html' });
      res.end(route ? route.body : 'not found');
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function check(url, out) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(__dirname, 'ui-check.cjs'), '--ui', url, '--out', out, '--timeout', '5'],
      { env: process.env }, (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }));
  });
}

test('a page without our pipeline fails the first step, by name, with a screenshot', async () => {
  const server = await serve({ '/': { body: '<html><body><h1>Some other site</h1></body></html>' } });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-check-'));
  try {
    const result = await check(`http://127.0.0.1:${server.address().port}`, out);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /step 'pipelines list' failed: .*not seen within 5 s|step 'pipelines list' failed: .*Timeout/);
    assert.ok(fs.existsSync(path.join(out, '01-FAILED-pipelines-list.png')), fs.readdirSync(out).join(','));
  } finally {
    server.close();
  }
});

test('the pipeline on the page but not in the API fails that step, not a later one', async () => {
  const server = await serve({
    '/': { body: '<html><body><table><tr><td>openct</td></tr></table></body></html>' },
    '/apis/v2beta1/pipelines': { body: JSON.stringify({ pipelines: [{ display_name: 'other', pipeline_id: 'p1' }] }), type: 'application/json' },
  });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-check-'));
  try {
    const result = await check(`http://127.0.0.1:${server.address().port}`, out);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /step 'pipelines list' failed: the API lists no pipeline 'openct'/);
    assert.ok(fs.existsSync(path.join(out, '01-pipelines.png')));  // the page itself was seen and saved
  } finally {
    server.close();
  }
});

test('options: --ui is required, unknown ones are refused', () => {
  const { parseArgs } = require('./ui-check.cjs');
  assert.throws(() => parseArgs([]), /--ui URL is required/);
  assert.throws(() => parseArgs(['--ui', 'http://x', '--colour', 'red']), /unknown option --colour/);
  assert.equal(parseArgs(['--ui', 'http://x/', '--timeout', '3']).ui, 'http://x');
});
