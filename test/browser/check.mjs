// check.mjs loads the athena-usage HTML report in headless Chromium and fails when a person
// would not see what the report promises.
//
// The report (pkg/report, report.WriteHTML) is one self-contained page: inline SVG charts drawn
// with gonum/plot, no JavaScript, no external URLs. Unit tests check the markup; this check
// renders it in a real browser and looks at what came out:
//
//   title       <title> and the <h1> headline are present and not empty
//   console     no console message of type error or warning
//   page errors no uncaught exception
//   scripts     no <script> element (the page promises to have none)
//   requests    nothing requested besides the file itself, and no request failed
//   charts      at least MIN_CHARTS top-level <svg> charts, each with a non-zero rendered size
//   visuals     a chart for each of the dashboard's visuals (VISUALS, by the start of its
//               aria-label): the original three, cost per user, the daily cost trend, and the
//               failed and refused queries per user
//   drawn       every chart has visible text and at least two visible shapes (gonum/plot paints
//               a background path first, so one shape alone is an empty plot)
//   labels      no chart text reaches outside its chart's box, where the SVG would cut it off
//   overflow    the page is not wider than the viewport (no sideways scrolling)
//
// It prints one line per check with its figure, saves a full-page screenshot and exits 1 when
// any check fails, 2 on bad usage or when the browser cannot be started.
//
// Usage:
//   node check.mjs HTML_FILE [SCREENSHOT_PNG]   screenshot default: build/report.png
//   node check.mjs --self-test DIR              every DIR/*.html must pass or fail as its
//                                               "<!-- expect: PASS -->" or
//                                               "<!-- expect: FAIL check -->" line says
//
// Environment: CHROMIUM (default /usr/bin/chromium). playwright-core only drives that Debian
// Chromium and never downloads one (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 at install). Normally run
// through scripts/browser-check.sh, which installs Chromium and this folder's pinned
// node_modules when missing.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const MIN_CHARTS = 6;
// The QuickSight dashboard's visuals, which the report shows too (pkg/athenasql.Visuals).
const VISUALS = [
  'Average MB scanned',
  'Daily cost',
  'Queries per user',
  'Queries per database',
  'Cost per user',
  'Failed and refused queries per user',
];
// Wide enough for the report's two-column chart grid (two 520 px minimum columns plus gaps).
const VIEWPORT = { width: 1280, height: 900 };
const TIMEOUT_MS = 30_000;

// The flags keep a headless run quiet and self-contained: no sandbox (root in a container), no GPU,
// and none of Chromium's own background traffic, so any request seen comes from the page.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

function usage(msg) {
  console.error(`check.mjs: ${msg}\n` +
    'usage: node check.mjs HTML_FILE [SCREENSHOT_PNG] | node check.mjs --self-test DIR');
  process.exit(2);
}

// regularFile exits with a usage error unless path names a regular file.
function regularFile(path) {
  try {
    if (!statSync(path).isFile()) usage(`${path}: not a regular file`);
  } catch (err) {
    usage(`${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
}

const args = process.argv.slice(2);
let jobs; // [{ html, shot, expect }]
let selfTest = false;
let scratch; // screenshots of a self-test, removed at the end
if (args[0] === '--self-test') {
  if (args.length !== 2) usage('--self-test wants one directory');
  selfTest = true;
  const dir = resolve(args[1]);
  let names;
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.html')).sort();
  } catch (err) {
    usage(`${args[1]}: ${err.message}`);
  }
  if (names.length === 0) usage(`${args[1]}: no .html fixtures`);
  scratch = mkdtempSync(join(tmpdir(), 'athena-usage-self-test-'));
  jobs = names.map((n) => ({
    html: join(dir, n),
    shot: join(scratch, n.replace(/\.html$/, '.png')),
    expect: /^<!-- expect: (.+?) -->$/m.exec(readFileSync(join(dir, n), 'utf8'))?.[1],
  }));
} else {
  if (args.length < 1 || args.length > 2 || args[0].startsWith('-')) usage('want one HTML file and at most one screenshot path');
  regularFile(args[0]);
  jobs = [{ html: resolve(args[0]), shot: resolve(args[1] ?? 'build/report.png'), shown: args[0], shotShown: args[1] ?? 'build/report.png' }];
}
if (!existsSync(executablePath)) {
  console.error(`check.mjs: no Chromium at ${executablePath} (apt-get install -y chromium, or set CHROMIUM)`);
  process.exit(2);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'athena-usage-chromium-'));
let code;
try {
  code = await run();
} finally {
  rmSync(userDataDir, { recursive: true, force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}
process.exit(code);

// run starts Chromium once, checks every job in a page of its own and returns the exit code.
async function run() {
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: VIEWPORT,
      timeout: TIMEOUT_MS,
      offline: true,
    });
  } catch (err) {
    console.error(`check.mjs: start ${executablePath}: ${err.message.split('\n')[0]}`);
    return 2;
  }
  try {
    return selfTest ? await runSelfTest(context) : await runOne(context, jobs[0]);
  } finally {
    await context.close().catch(() => {});
  }
}

// runOne prints every check of one page and returns 0 when all passed, 1 otherwise.
async function runOne(context, job) {
  const results = await inspect(context, job.html, job.shot, job.shotShown);
  const bad = results.filter((r) => !r.ok);
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.figure}`);
  console.log(bad.length === 0
    ? `PASS ${job.shown}`
    : `FAIL ${job.shown}: ${bad.map((r) => r.name).join(', ')}`);
  return bad.length === 0 ? 0 : 1;
}

// runSelfTest checks every fixture against its expect line: "PASS" wants every check to pass,
// "FAIL name" wants the check called name among the failed ones. A mismatch prints the checks.
async function runSelfTest(context) {
  let passed = 0;
  let failed = 0;
  for (const job of jobs) {
    const name = basename(job.html);
    const results = await inspect(context, job.html, job.shot, basename(job.shot));
    const bad = results.filter((r) => !r.ok).map((r) => r.name);
    const good = job.expect === 'PASS'
      ? bad.length === 0
      : job.expect?.startsWith('FAIL ') && bad.includes(job.expect.slice(5));
    if (good) {
      passed++;
      console.log(`ok   ${name}: ${job.expect}${bad.length ? ` (failed: ${bad.join(', ')})` : ''}`);
      continue;
    }
    failed++;
    console.log(`FAIL ${name}: want ${job.expect ?? 'an "<!-- expect: ... -->" line'}, ` +
      `got ${bad.length ? `FAIL ${bad.join(', ')}` : 'PASS'}`);
    for (const r of results) console.log(`       ${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.figure}`);
  }
  console.log(`self-test: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

// inspect opens htmlPath in a new page of context, saves its screenshot and returns one
// { name, ok, figure } per check.
async function inspect(context, htmlPath, shotPath, shotShown) {
  const results = [];
  const check = (name, ok, figure) => results.push({ name, ok, figure });
  const fileURL = pathToFileURL(htmlPath).href;
  const consoleMsgs = [];
  const pageErrors = [];
  const requests = [];
  const failed = [];

  const page = await context.newPage();
  try {
    // Anything but the report itself is refused here, so a stray URL is reported, never fetched.
    await page.route('**/*', (route) =>
      route.request().url() === fileURL ? route.continue() : route.abort('blockedbyclient'),
    );
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') {
        const loc = msg.location();
        const where = loc.url ? ` (${loc.url.split('/').pop()}:${loc.lineNumber + 1})` : '';
        consoleMsgs.push(`${msg.type()}: ${msg.text()}${where}`);
      }
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('request', (req) => requests.push(req.url()));
    page.on('requestfailed', (req) => failed.push(`${req.url()}: ${req.failure()?.errorText ?? 'failed'}`));

    const start = performance.now();
    try {
      await page.goto(fileURL, { waitUntil: 'load', timeout: TIMEOUT_MS });
    } catch (err) {
      check('load', false, `open ${htmlPath}: ${err.message.split('\n')[0]}`);
    }
    const loadMS = Math.round(performance.now() - start);
    // Fonts decide text widths; measure only after they are in.
    await page.evaluate(() => document.fonts.ready.then(() => undefined));

    const facts = await page.evaluate(() => {
      const visible = (r) => r.width > 0 || r.height > 0;
      const charts = [...document.querySelectorAll('svg')].filter((s) => !s.parentElement.closest('svg'));
      return {
        title: document.title.trim(),
        h1: document.querySelector('h1')?.textContent.trim() ?? '',
        scripts: document.querySelectorAll('script').length,
        scrollWidth: document.documentElement.scrollWidth,
        clientWidth: document.documentElement.clientWidth,
        nav: performance.getEntriesByType('navigation')[0]?.loadEventEnd ?? 0,
        charts: charts.map((svg, i) => {
          const r = svg.getBoundingClientRect();
          const texts = [...svg.querySelectorAll('text')].filter(
            (t) => t.textContent.trim() !== '' && visible(t.getBoundingClientRect()),
          );
          const shapes = [...svg.querySelectorAll('path, rect, line, polyline, polygon, circle, ellipse')].filter(
            (s) => visible(s.getBoundingClientRect()),
          );
          // An SVG clips what lies outside its box, so such a label is cut off on screen.
          const out = (q) =>
            q.left < r.left - 0.5 || q.right > r.right + 0.5 || q.top < r.top - 0.5 || q.bottom > r.bottom + 0.5;
          return {
            label: svg.getAttribute('aria-label') || `chart ${i + 1}`,
            clipped: texts.filter((t) => out(t.getBoundingClientRect())).map((t) => t.textContent.trim()),
            width: Math.round(r.width),
            height: Math.round(r.height),
            texts: texts.length,
            shapes: shapes.length,
          };
        }),
      };
    });

    check('title', facts.title !== '' && facts.h1 !== '',
      `title ${JSON.stringify(facts.title)}, headline ${JSON.stringify(facts.h1)}`);
    check('console', consoleMsgs.length === 0, `${consoleMsgs.length} errors/warnings${list(consoleMsgs)}`);
    check('page errors', pageErrors.length === 0, `${pageErrors.length}${list(pageErrors)}`);
    check('scripts', facts.scripts === 0, `${facts.scripts} <script> elements`);
    const others = requests.filter((u) => u !== fileURL);
    check('requests', others.length === 0 && failed.length === 0,
      `${requests.length} made, ${others.length} besides the file, ${failed.length} failed` +
        list([...new Set([...others, ...failed])]));

    const cs = facts.charts;
    const sizes = cs.map((c) => `${c.width}x${c.height}`).join(' ');
    const flat = cs.filter((c) => c.width === 0 || c.height === 0).map((c) => c.label);
    check('charts', cs.length >= MIN_CHARTS && flat.length === 0,
      `${cs.length} rendered (want at least ${MIN_CHARTS}), sizes ${sizes || 'none'}` +
        (flat.length ? `; zero size: ${flat.join(', ')}` : ''));
    const missing = VISUALS.filter((v) => !cs.some((c) => c.label.startsWith(v)));
    check('visuals', missing.length === 0,
      `${VISUALS.length - missing.length} of ${VISUALS.length} dashboard visuals` +
        (missing.length ? `; missing: ${missing.join(', ')}` : ''));
    const empty = cs.filter((c) => c.texts === 0 || c.shapes < 2);
    check('drawn', cs.length > 0 && empty.length === 0,
      `texts/shapes per chart ${cs.map((c) => `${c.texts}/${c.shapes}`).join(' ') || 'none'}` +
        (empty.length ? `; nothing drawn in: ${empty.map((c) => c.label).join(', ')}` : ''));
    const clipped = cs.flatMap((c) => c.clipped.map((t) => `${c.label}: ${JSON.stringify(t)}`));
    check('labels', clipped.length === 0,
      `${cs.reduce((n, c) => n + c.texts, 0)} chart texts, ${clipped.length} cut off at a chart's edge${list(clipped)}`);
    check('overflow', facts.scrollWidth <= facts.clientWidth,
      `page ${facts.scrollWidth} px wide in a ${facts.clientWidth} px viewport`);

    try {
      mkdirSync(dirname(shotPath), { recursive: true });
      await page.screenshot({ path: shotPath, fullPage: true, timeout: TIMEOUT_MS });
      const { width, height } = await page.evaluate(() => ({
        width: document.documentElement.scrollWidth,
        height: document.documentElement.scrollHeight,
      }));
      check('screenshot', true, `${shotShown} (${width}x${height})`);
    } catch (err) {
      check('screenshot', false, `${shotShown}: ${err.message.split('\n')[0]}`);
    }
    check('load time', true, `${loadMS} ms (navigation loadEventEnd ${Math.round(facts.nav)} ms)`);
  } finally {
    await page.close().catch(() => {});
  }
  return results;
}

// list appends up to five items to a figure, so a failure shows what went wrong.
function list(items) {
  if (items.length === 0) return '';
  const shown = items.slice(0, 5).map((s) => `\n      ${s}`).join('');
  return items.length > 5 ? `${shown}\n      ... ${items.length - 5} more` : shown;
}
