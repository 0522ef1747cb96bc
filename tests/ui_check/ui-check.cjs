// A browser check of a Kubeflow Pipelines UI as a user sees it: headless Chromium (Debian's) driven
// by playwright-core. Each step opens a page as a person would, waits for what they should see,
// saves a screenshot, and on a miss fails with the step's name (plus a FAILED-<step>.png).
//
//   tests/ui_check/run.sh --ui http://localhost:8080 [--out build/ui-check] [--pipeline openct]
//                         [--recurring openct-nightly] [--timeout 90]
//
// What to expect is read from the same UI's API proxy (/apis/v2beta1, which the UI's own pages call):
// the pipeline's newest version, its newest succeeded and newest failed run, their task list (the
// run's pipeline spec). What is checked is only what the page shows. DOM facts used, from KFP
// 2.17.0's frontend: a run's graph draws each task as a React Flow node `task.<task key>` and each
// output artifact as `artifact.<task key>.<output key>` (src/lib/v2/StaticFlow.ts:474-497); a
// task's state is a Material icon, CheckCircle for COMPLETE, CloudDownload for CACHED, Error for
// FAILED, none when there is no execution (src/components/graph/ExecutionNode.tsx:79-118); an
// artifact's side panel has the tabs 'Artifact Info' and 'Visualization'
// (src/components/tabs/RuntimeNodeDetailsV2.tsx:390), a task's 'Logs' (:185); a system.HTML
// artifact is rendered in an iframe's srcdoc (src/components/viewers/HTMLViewer.tsx:53-54); the
// recurring runs list shows "Cron: <cron>" (src/pages/RecurringRunList.tsx:229-230).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const STATE_ICONS = {
  CheckCircleIcon: 'COMPLETE',
  CloudDownloadIcon: 'CACHED',
  ErrorIcon: 'FAILED',
  RefreshIcon: 'RUNNING',
  PowerSettingsNewIcon: 'NEW',
  MoreHorizIcon: 'UNKNOWN',
};
const VIEWPORT = { width: 1600, height: 1200 };

function parseArgs(argv) {
  const args = { out: 'build/ui-check', pipeline: 'openct', recurring: 'openct-nightly', timeout: 90 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in args) && key !== 'ui') throw new Error(`unknown option ${argv[i]}`);
    args[key] = argv[i + 1];
  }
  if (!args.ui) throw new Error('--ui URL is required (the KFP UI, e.g. http://localhost:8080)');
  args.ui = args.ui.replace(/\/+$/, '');
  args.timeout = Number(args.timeout) * 1000;
  return args;
}

class StepFailed extends Error {}

class Check {
  constructor(page, args) {
    this.page = page;
    this.args = args;
    this.shots = [];
    this.count = 0;
  }

  async api(route) {
    const response = await fetch(`${this.args.ui}/apis/v2beta1/${route}`);
    if (!response.ok) throw new Error(`GET /apis/v2beta1/${route}: HTTP ${response.status}`);
    return response.json();
  }

  async shot(name) {
    this.count += 1;
    const file = path.join(this.args.out, `${String(this.count).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file });
    this.shots.push(file);
    return file;
  }

  async step(name, fn) {
    const started = Date.now();
    try {
      const detail = await fn();
      console.log(`ok    ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)${detail ? `: ${detail}` : ''}`);
    } catch (error) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
      let file = '';
      try {
        file = await this.shot(`FAILED-${slug}`);
      } catch {
        /* the page itself may be gone */
      }
      throw new StepFailed(`step '${name}' failed: ${error.message}${file ? ` (screenshot ${file})` : ''}`);
    }
  }

  /** Opens a UI page as a new page load, as a person opening a link does: a change of the hash
   * alone keeps the previous page's state (the run title of the run opened before stayed). */
  async goto(route) {
    await this.page.goto('about:blank');
    await this.page.goto(`${this.args.ui}/#${route}`, { waitUntil: 'domcontentloaded' });
  }

  /** Waits until `predicate` (run in the page with `arg`) returns a truthy value; returns it. */
  async until(what, predicate, arg) {
    try {
      const handle = await this.page.waitForFunction(predicate, arg, { timeout: this.args.timeout, polling: 500 });
      return handle.jsonValue();
    } catch (error) {
      if (error.name === 'TimeoutError') throw new Error(`${what} (not seen within ${this.args.timeout / 1000} s)`);
      throw error;
    }
  }

  /** Zooms a graph to show all of it (React Flow's own fit-view control). */
  async fitGraph() {
    const fit = this.page.locator('.react-flow__controls-fitview');
    if (await fit.count()) {
      await fit.first().click();
      await this.page.waitForTimeout(500);
    }
  }

  async bannerError() {
    return this.page.evaluate(() => {
      const banner = document.querySelector('[class*="banner"]');
      return banner && /error|cannot|failed/i.test(banner.textContent) ? banner.textContent.trim() : '';
    });
  }

  /** Task key -> state shown in the run graph ('' for no state icon), once every task is drawn
   * and `failed` is '' (every task COMPLETE or CACHED) or the key of the task that must show FAILED. */
  async taskStates(taskKeys, failed) {
    const want = failed ? `task ${failed} FAILED` : 'every task complete or cached';
    return this.until(
      `the graph to show the tasks ${taskKeys.join(', ')} with their states (${want})`,
      ([keys, icons, failedKey]) => {
        const states = {};
        for (const key of keys) {
          const node = document.querySelector(`.react-flow__node[data-id="task.${key}"]`);
          if (!node) return false;
          const icon = [...node.querySelectorAll('svg[data-testid]')]
            .map((svg) => icons[svg.getAttribute('data-testid')])
            .find(Boolean);
          states[key] = icon || '';
        }
        const done = failedKey
          ? states[failedKey] === 'FAILED'
          : Object.values(states).every((v) => v === 'COMPLETE' || v === 'CACHED');
        return done ? states : false;
      },
      [taskKeys, STATE_ICONS, failed],
    );
  }

  /** Opens an artifact node's Visualization tab; returns the HTML the UI rendered in its frame. */
  async openView(taskKey, outputKey) {
    const id = `artifact.${taskKey}.${outputKey}`;
    const node = this.page.locator(`.react-flow__node[data-id="${id}"]`);
    if ((await node.count()) === 0) throw new Error(`no artifact node ${id} in the graph`);
    // A click event on the node itself, as React Flow's node handles it: a node near the
    // graph's lower right corner lies under the minimap, which takes pointer clicks there.
    await node.dispatchEvent('click');
    await this.openTab('Visualization');
    return this.until(
      `the ${outputKey} of ${taskKey} rendered in the Visualization tab`,
      () => {
        const frame = [...document.querySelectorAll('iframe')].find((f) => f.srcdoc && f.srcdoc.length > 0);
        return frame ? frame.srcdoc : false;
      },
    );
  }

  /** Clicks the side panel's tab `name` ('Visualization', 'Logs'). */
  async openTab(name) {
    const tab = this.page.getByRole('button', { name }).or(this.page.getByText(name, { exact: true }));
    await tab.first().click({ timeout: this.args.timeout });
  }

  async closePanel() {
    const close = this.page.locator('button[aria-label="close"]');
    if (await close.count()) await close.first().click();
  }
}

/** The tasks of a run's root DAG: key and display name, from the run's own spec or its version's. */
async function tasksOf(check, runId) {
  const run = await check.api(`runs/${runId}`);
  let spec = run.pipeline_spec;
  const ref = run.pipeline_version_reference;
  if (!spec && ref && ref.pipeline_version_id) {
    spec = (await check.api(`pipelines/${ref.pipeline_id}/versions/${ref.pipeline_version_id}`)).pipeline_spec;
  }
  spec = spec && spec.pipeline_spec ? spec.pipeline_spec : spec; // a spec with a platform spec is wrapped
  const tasks = Object.entries(((spec || {}).root || {}).dag?.tasks || {});
  if (!tasks.length) throw new Error(`run ${runId}: no tasks in its pipeline spec`);
  return tasks.map(([key, task]) => ({ key, name: (task.taskInfo || {}).name || key }));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(args.out, { recursive: true });
  for (const old of fs.readdirSync(args.out).filter((f) => /^\d\d-.*\.png$/.test(f))) {
    fs.rmSync(path.join(args.out, old)); // screenshots of an earlier check: not this one's
  }
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: VIEWPORT });
  const check = new Check(page, args);
  const seen = {};
  try {
    await check.step('pipelines list', async () => {
      await check.goto('/pipelines');
      await page.getByText(args.pipeline, { exact: true }).first().waitFor({ timeout: args.timeout });
      await check.shot('pipelines');
      const found = await check.api(`pipelines?page_size=100`);
      seen.pipeline = (found.pipelines || []).find((p) => p.display_name === args.pipeline);
      if (!seen.pipeline) throw new Error(`the API lists no pipeline '${args.pipeline}'`);
      return `'${args.pipeline}' listed`;
    });

    await check.step('pipeline version', async () => {
      const versions = await check.api(
        `pipelines/${seen.pipeline.pipeline_id}/versions?page_size=1&sort_by=${encodeURIComponent('created_at desc')}`,
      );
      const newest = (versions.pipeline_versions || [])[0];
      if (!newest) throw new Error(`pipeline '${args.pipeline}' has no version`);
      await page.getByText(args.pipeline, { exact: true }).first().click();
      await page.getByText(newest.display_name).first().waitFor({ timeout: args.timeout });
      await page.locator('.react-flow__node').first().waitFor({ timeout: args.timeout });
      await check.fitGraph();
      await check.shot('pipeline-version');
      return `version '${newest.display_name}' shown with its graph`;
    });

    const runs = (await check.api(`runs?page_size=100&sort_by=${encodeURIComponent('created_at desc')}`)).runs || [];
    const ours = runs.filter((r) => (r.pipeline_version_reference || {}).pipeline_id === seen.pipeline.pipeline_id);

    await check.step('finished run', async () => {
      const run = ours.find((r) => r.state === 'SUCCEEDED');
      if (!run) throw new Error(`no succeeded run of '${args.pipeline}' to open`);
      seen.run = run;
      const tasks = await tasksOf(check, run.run_id);
      await check.goto(`/runs/details/${run.run_id}`);
      const states = await check.taskStates(tasks.map((t) => t.key), '');
      for (const t of tasks) {
        const label = await page.locator(`.react-flow__node[data-id="task.${t.key}"]`).innerText();
        if (!label.includes(t.name)) throw new Error(`task ${t.key} is labelled '${label}', not '${t.name}'`);
      }
      const banner = await check.bannerError();
      if (banner) throw new Error(`the run page shows an error: ${banner}`);
      await check.fitGraph();
      await check.shot('run-graph');
      return `run '${run.display_name}': ${tasks.length} tasks, ${Object.values(states).filter((s) => s === 'COMPLETE').length} complete, ${Object.values(states).filter((s) => s === 'CACHED').length} cached`;
    });

    for (const [taskKey, name, expect] of [
      ['statisticsgen', 'view-statistics', [/examples:/, /<svg/]],
      ['evaluator', 'view-evaluation', [/decision:/, /AUC per slice/, /<svg/]],
      ['pusher', 'view-push', [/Pushed version|Not pushed/]],
    ]) {
      await check.step(`view of ${taskKey}`, async () => {
        const html = await check.openView(taskKey, 'view');
        for (const pattern of expect) if (!pattern.test(html)) throw new Error(`the view lacks ${pattern}`);
        if (/<script[^>]+src=|<link[^>]+href=["']?https?:/i.test(html)) throw new Error('the view fetches from the internet');
        await check.shot(name);
        await check.closePanel();
        return `${html.length} bytes of HTML, ${(html.match(/<svg/g) || []).length} inline plots`;
      });
    }

    await check.step('blocked run', async () => {
      const run = ours.find((r) => r.state === 'FAILED');
      if (!run) throw new Error(`no failed (blocked) run of '${args.pipeline}' to open`);
      const tasks = await tasksOf(check, run.run_id);
      await check.goto(`/runs/details/${run.run_id}`);
      const states = await check.taskStates(tasks.map((t) => t.key), 'validationgate');
      const after = ['transform', 'trainer', 'evaluator', 'pusher'].filter((k) => states[k]);
      if (after.length) throw new Error(`tasks after the gate show a state: ${after.map((k) => `${k}=${states[k]}`)}`);
      await check.fitGraph();
      await check.shot('blocked-run');
      // The gate's own log, in the task's Logs tab (the UI reads the pod's log)
      await page.locator('.react-flow__node[data-id="task.validationgate"]').dispatchEvent('click');
      await check.openTab('Logs');
      await check.until('the gate\'s log naming the span it blocked', () =>
        /data validation gate: span \d+/.test(document.body.innerText));
      await check.shot('blocked-run-gate-log');
      await check.closePanel();
      const why = [];
      for (const taskKey of ['examplevalidator', 'datachecks']) {
        const html = await check.openView(taskKey, 'view');
        if (/validation gate stops this run/.test(html)) {
          why.push(taskKey);
          await check.shot(`blocked-run-${taskKey}`);
        }
        await check.closePanel();
      }
      if (!why.length) throw new Error('neither the anomalies view nor the data checks view says why the gate stopped the run');
      return `run '${run.display_name}': gate FAILED with its reason in its log, nothing after it ran; reason also in the views of ${why.join(', ')}`;
    });

    await check.step('recurring runs', async () => {
      const found = (await check.api(`recurringruns?page_size=100`)).recurringRuns || [];
      const ours = found.find((r) => r.display_name === args.recurring);
      if (!ours) throw new Error(`the API lists no recurring run '${args.recurring}'`);
      const cron = ((ours.trigger || {}).cron_schedule || {}).cron;
      await check.goto('/recurringruns');
      const row = page.locator('[role="row"], .tableRow, tr').filter({ hasText: args.recurring }).first();
      await row.waitFor({ timeout: args.timeout });
      const text = await row.innerText();
      if (cron && !text.includes(`Cron: ${cron}`)) throw new Error(`its row does not show 'Cron: ${cron}': ${text}`);
      if (!/Enabled|ENABLED|Active/.test(text)) throw new Error(`its row does not show it enabled: ${text}`);
      await check.shot('recurring-runs');
      return `'${args.recurring}' enabled, cron ${cron}`;
    });
  } finally {
    await browser.close();
  }
  console.log(`ui-check: all steps passed; screenshots in ${args.out}: ${check.shots.map((f) => path.basename(f)).join(', ')}`);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`ui-check: ${error.message}`);
    process.exit(1);
  });
}

module.exports = { parseArgs, STATE_ICONS };
