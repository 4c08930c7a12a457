// check.mjs parses every SQL statement athena-usage sends to Athena with the grammar Athena runs
// it with, and fails listing each statement that does not parse.
//
// Its input is what `go run ./test/sqlgrammar` writes (main.go): every statement rendered by
// pkg/athenasql for several configurations, as
//   { "statements": [{ "file", "config", "name", "kind", "grammar", "sql" }] }
// where grammar is "trino" (queries and CREATE VIEW: dt-sql-parser's TrinoSQL) or "hive"
// (CREATE DATABASE, CREATE EXTERNAL TABLE, DROP TABLE: HiveSQL). The Go side picks the grammar
// from the statement's kind (statements.go, kinds); this script only applies it.
//
// A statement fails when the parser reports a syntax error, or when the text holds more than one
// statement: Athena runs one statement per query, while both grammars accept a list.
// Each failure is printed with its file, configuration, grammar, and the parser's line, column
// and message, each line of SQL in question after its errors.
//
// A self-test fixture (fixtures/*.json) has the same shape plus "about" (what it proves),
// "expect" ("pass" or "fail"), "broken": true on each statement that must be reported, and
// optionally "allow", allowlist entries (see ALLOWED) for that fixture alone, so that the
// allowlist itself is tested, with "stale", how many of them must match no error.
//
// Usage:
//   node check.mjs STATEMENTS_JSON   exit 0 when every statement parses, 1 when any fails,
//                                    2 on bad usage or input
//   node check.mjs --self-test DIR   runs the check above on every DIR/*.json fixture, each in
//                                    its own process, and fails unless each exits as its
//                                    "expect" says and reports exactly its "broken" statements
//
// Normally run through test/sqlgrammar/run.sh (`make sql-grammar`), which installs this folder's
// pinned node_modules when missing.

import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// ALLOWED lists syntax errors that are the grammar's fault, not the SQL's: Athena accepts the
// statement, dt-sql-parser's grammar does not. Each entry is
//   { file: 'x.sql', grammar: 'trino' | 'hive', message: 'the parser message, exactly',
//     why: 'why Athena accepts it, with a link to the Athena or Trino documentation' }
// and allows that message for that file in every configuration. An entry that no longer matches
// an error fails the check, so the list cannot outlive its reason. Every statement parses with
// dt-sql-parser 4.5.1, so it is empty; add to it only for a grammar limitation, never to hide an
// error in our SQL.
const ALLOWED = [];

const GRAMMARS = ['trino', 'hive'];

// EXIT is the exit status each "expect" of a self-test fixture wants.
const EXIT = { pass: 0, fail: 1 };

// loadParsers imports dt-sql-parser, only when there is SQL to parse: the import alone costs
// about two seconds of CPU, which the self-test would pay once more for nothing.
async function loadParsers() {
  // dt-sql-parser is published for bundlers; hooks.mjs says why Node needs help to load it.
  register('./hooks.mjs', import.meta.url);
  const { TrinoSQL, HiveSQL } = await import('dt-sql-parser');
  return { trino: new TrinoSQL(), hive: new HiveSQL() };
}

function usage(msg) {
  console.error(`check.mjs: ${msg}\n` +
    'usage: node check.mjs STATEMENTS_JSON | node check.mjs --self-test DIR');
  process.exit(2);
}

// load reads and checks an input file; a fixture may add "allow" entries and "expect".
function load(path) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    usage(`${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  if (!Array.isArray(doc?.statements) || doc.statements.length === 0) {
    usage(`${path}: no "statements" to check`);
  }
  doc.statements.forEach((s, i) => {
    for (const key of ['file', 'config', 'sql']) {
      if (typeof s[key] !== 'string' || s[key] === '') usage(`${path}: statement ${i}: no "${key}"`);
    }
    if (!GRAMMARS.includes(s.grammar)) usage(`${path}: statement ${i}: grammar ${JSON.stringify(s.grammar)}, want trino or hive`);
  });
  checkAllowlist(path, doc.allow ?? []);
  return doc;
}

// checkAllowlist exits with a usage error unless every entry names its file, grammar, message
// and the reason the error is allowed.
function checkAllowlist(where, entries) {
  entries.forEach((a, i) => {
    for (const key of ['file', 'grammar', 'message', 'why']) {
      if (typeof a?.[key] !== 'string' || a[key] === '') usage(`${where}: allowlist entry ${i}: no "${key}"`);
    }
  });
}

// errorsOf returns the statement's syntax errors, and one when it holds several statements.
function errorsOf(parsers, s) {
  const parser = parsers[s.grammar];
  const errors = quiet(() => parser.validate(s.sql));
  if (errors.length > 0) return errors;
  const n = quiet(() => parser.splitSQLByStatement(s.sql))?.length ?? 0;
  if (n === 1) return [];
  return [{ startLine: 1, startColumn: 1, message: `holds ${n} statements; Athena runs one per query` }];
}

// quiet runs fn with console.error silenced. To word its messages ("expecting a keyword"),
// dt-sql-parser parses fragments again with parsers that keep ANTLR's default console listener,
// which prints every error once more, without the statement's name, to stderr.
function quiet(fn) {
  const saved = console.error;
  console.error = () => {};
  try {
    return fn();
  } finally {
    console.error = saved;
  }
}

// check parses every statement; it returns the failures, the allowed errors and the allowlist
// entries that matched nothing.
function check(parsers, statements, allowed) {
  const used = new Set();
  const failures = [];
  const excused = [];
  for (const s of statements) {
    for (const e of errorsOf(parsers, s)) {
      const entry = allowed.find((a) => a.file === s.file && a.grammar === s.grammar && a.message === e.message);
      if (entry) {
        used.add(entry);
        excused.push({ s, e });
      } else {
        failures.push({ s, e });
      }
    }
  }
  return { failures, excused, stale: allowed.filter((a) => !used.has(a)) };
}

function label(s) {
  return `${s.file} [${s.config}] ${s.grammar}${s.name ? ` (${s.name})` : ''}`;
}

function position(e) {
  return `line ${e.startLine}:${e.startColumn} ${e.message}`;
}

// report prints the outcome and returns the exit status. A failing statement is listed once,
// with every error under it: the first is the cause, the rest often follow from it.
function report(statements, { failures, excused, stale }) {
  const counts = new Map(); // "grammar config" -> statements
  for (const s of statements) {
    const key = `${s.grammar.padEnd(5)} ${s.config}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const [key, n] of [...counts].sort()) console.log(`checked ${key}: ${n} statements`);
  for (const { s, e } of excused) console.log(`ALLOWED ${label(s)}: ${position(e)}`);
  const failing = new Map(); // statement -> its failures, in input order
  for (const x of failures) failing.set(x.s, [...(failing.get(x.s) ?? []), x]);
  for (const [s, errors] of failing) {
    console.log(`FAIL ${label(s)}`);
    const lines = s.sql.split('\n');
    errors.forEach(({ e }, i) => {
      console.log(`    ${position(e)}`);
      const last = i === errors.length - 1 || errors[i + 1].e.startLine !== e.startLine;
      if (last && lines[e.startLine - 1] !== undefined) console.log(`        | ${lines[e.startLine - 1].trim()}`);
    });
  }
  for (const a of stale) {
    console.log(`FAIL allowlist entry matches no error, remove it: ${a.file} ${a.grammar}: ${a.message}`);
  }
  console.log(`sql-grammar: ${statements.length} statements, ${statements.length - failing.size} parse, ` +
    `${failing.size} fail, ${excused.length} allowed errors, ${stale.length} stale allowlist entries`);
  return failing.size > 0 || stale.length > 0 ? 1 : 0;
}

// selfTest runs this script on every fixture in its own process, as make runs it, a few at a
// time, and checks the exit status and that the output names exactly the fixture's broken
// statements.
async function selfTest(dir) {
  const names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  if (names.length === 0) usage(`${dir}: no *.json fixtures`);
  const docs = names.map((name) => {
    const doc = load(join(dir, name));
    if (!Object.hasOwn(EXIT, doc.expect ?? '')) usage(`${name}: "expect" must be "pass" or "fail"`);
    return doc;
  });
  const results = new Array(names.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < names.length; i = next++) results[i] = await runSelf(join(dir, names[i]));
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), names.length) }, worker));
  let failed = 0;
  names.forEach((name, i) => {
    const problems = selfTestProblems(docs[i], results[i]);
    if (problems.length === 0) {
      console.log(`ok   ${name}: ${docs[i].expect}`);
      return;
    }
    failed++;
    console.log(`FAIL ${name}: ${problems.join('; ')}\n${results[i].out}${results[i].err}`);
  });
  console.log(`self-test: ${names.length - failed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

// runSelf runs this script on one statements file and returns its exit status and output.
function runSelf(path) {
  return new Promise((done) => {
    execFile(process.execPath, [fileURLToPath(import.meta.url), path], (err, out, stderr) => {
      done({ status: err ? err.code : 0, out, err: stderr });
    });
  });
}

// selfTestProblems compares one fixture's run with what the fixture expects.
function selfTestProblems(doc, run) {
  const want = EXIT[doc.expect];
  const problems = [];
  if (run.status !== want) problems.push(`exit status ${run.status}, want ${want}`);
  // The summary line proves the run got to its end, whatever its exit status.
  if (!run.out.includes(`sql-grammar: ${doc.statements.length} statements,`)) problems.push('no summary line');
  if (doc.stale && !run.out.includes(`${doc.stale} stale allowlist entries`)) {
    problems.push(`want ${doc.stale} stale allowlist entries`);
  }
  for (const s of doc.statements) {
    const named = run.out.includes(`FAIL ${s.file} [${s.config}] ${s.grammar}`);
    if (s.broken && !named) problems.push(`${s.file} [${s.config}] not reported`);
    if (!s.broken && named) problems.push(`${s.file} [${s.config}] reported, but it is not broken`);
  }
  return problems;
}

// An unexpected exception is the script's fault, not the SQL's: exit 2, as for bad usage.
process.on('uncaughtException', (err) => {
  console.error('check.mjs:', err);
  process.exit(2);
});

const args = process.argv.slice(2);
if (args[0] === '--self-test') {
  if (args.length !== 2) usage('--self-test wants one directory');
  process.exit(await selfTest(resolve(args[1])));
}
if (args.length !== 1 || args[0].startsWith('-')) usage('want one statements file');
checkAllowlist('ALLOWED', ALLOWED);
const doc = load(args[0]);
const parsers = await loadParsers();
const allowed = [...ALLOWED, ...(doc.allow ?? [])];
process.exitCode = report(doc.statements, check(parsers, doc.statements, allowed));
