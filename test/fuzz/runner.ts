/**
 * Runs one fuzz case through the built binary and says what went wrong, as a list of problems
 * (empty = the case behaves as the README's exit-code rule asks). Each run gets a wall-clock limit
 * and a memory cap: V8's heap via --max-old-space-size, everything else (typed arrays, wasm) by
 * polling the child's resident memory, because `ulimit -v` also caps the virtual reservations
 * wasm needs and would break every wasm run.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SLIM_BIN, STACK_FRAME } from '../helpers/cli.js';
import { STDOUT_PIPELINES, type FuzzCase } from './corpus.js';

/** Resident memory a run may use before it is killed (a normal case needs a few hundred MB). */
export const MEMORY_CAP_BYTES = 2 * 1024 ** 3;
const HEAP_CAP_MB = 1536;
/** Captured output per stream; more is cut (a runaway log must not exhaust the test's memory). */
const OUTPUT_CAP = 256 * 1024;

export interface RunOutcome {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  overMemory: boolean;
  seconds: number;
}

/** Resident set size of a Linux process, or undefined when it cannot be read (exited, other OS). */
async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

export interface SpawnOptions {
  timeoutMs: number;
  /** Called with the child's pid once it runs; may kill it (kill cases). */
  onStart?: (kill: () => void) => void;
}

/** Runs `slim <argv>` in `cwd`, stdin closed or fed `stdin`; stdout captured, or sent down the case's shell pipeline. */
export function runCaseProcess(c: Pick<FuzzCase, 'argv' | 'cwd' | 'stdin' | 'stdoutTo'>, options: SpawnOptions): Promise<RunOutcome> {
  const pipeline = c.stdoutTo === undefined ? undefined : STDOUT_PIPELINES[c.stdoutTo];
  return runNode([SLIM_BIN, ...c.argv], { ...options, cwd: c.cwd, stdin: c.stdin, pipeline });
}

/** Runs a Node script under the time limit and the memory caps. */
function runNode(args: string[], options: SpawnOptions & { cwd: string; stdin?: string; pipeline?: string }): Promise<RunOutcome> {
  return new Promise((resolve, reject) => {
    const { FORCE_COLOR: _force, NODE_OPTIONS: _nodeOptions, ...inherited } = process.env;
    const started = Date.now();
    const node = [process.execPath, `--max-old-space-size=${HEAP_CAP_MB}`, ...args];
    // A pipeline runs under bash, which exits with slim's code (the memory watchdog then sees bash).
    const [command, ...argv] = options.pipeline === undefined ? node : ['bash', '-c', options.pipeline, 'bash', ...node];
    const child = spawn(command, argv, {
      cwd: options.cwd,
      env: { ...inherited, NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const collect = (into: Buffer[]) => {
      let held = 0;
      return (chunk: Buffer) => {
        if (held < OUTPUT_CAP) into.push(chunk.subarray(0, OUTPUT_CAP - held));
        held += chunk.length;
      };
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    let timedOut = false;
    let overMemory = false;
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const watchdog = setInterval(() => {
      if (child.pid === undefined) return;
      void residentBytes(child.pid).then((bytes) => {
        if (bytes !== undefined && bytes > MEMORY_CAP_BYTES) {
          overMemory = true;
          kill();
        }
      });
    }, 100);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(watchdog);
      const signalNumber = signal === 'SIGKILL' ? 9 : signal === 'SIGABRT' ? 6 : signal === 'SIGSEGV' ? 11 : signal === 'SIGTRAP' ? 5 : 1;
      resolve({
        code: code ?? 128 + signalNumber,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
        overMemory,
        seconds: (Date.now() - started) / 1000,
      });
    });
    child.stdin.on('error', () => {});
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
    else child.stdin.end();
    options.onStart?.(kill);
  });
}

// ---------------------------------------------------------------- file-system state

/** Path → content hash of every entry under `p` (or {} when it does not exist). */
export async function snapshot(p: string): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  const walk = async (at: string, rel: string): Promise<void> => {
    let info;
    try {
      info = await stat(at);
    } catch {
      return;
    }
    if (info.isDirectory()) {
      state[rel || '.'] = 'dir';
      let names: string[];
      try {
        names = await readdir(at);
      } catch {
        state[rel || '.'] = 'unreadable dir';
        return;
      }
      for (const name of names.sort()) await walk(path.join(at, name), rel ? `${rel}/${name}` : name);
    } else if (info.isFile()) {
      state[rel || '.'] =
        info.size > 8 * 1024 ** 2
          ? `size ${info.size}`
          : createHash('sha1')
              .update(await readFile(at))
              .digest('hex');
    } else {
      state[rel || '.'] = 'special';
    }
  };
  // /proc and /sys are not ours to walk.
  if (!p.startsWith('/proc/') && !p.startsWith('/sys/') && p !== '/dev/null') await walk(p, '');
  return state;
}

/** model.json files in `dir` and its direct subfolders (run writes one per stage). */
async function modelJsonsIn(dir: string): Promise<string[]> {
  const found: string[] = [];
  if (existsSync(path.join(dir, 'model.json'))) found.push(path.join(dir, 'model.json'));
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (entry.isDirectory() && existsSync(path.join(dir, entry.name, 'model.json'))) found.push(path.join(dir, entry.name, 'model.json'));
  }
  return found;
}

const STOCK_CHECK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'stock-check.js');
const STOCK_CHECK_TIMEOUT_MS = 60_000;

/** Why the models in `dir` are not complete (empty = each loads in stock tfjs, checked in a child process). */
export async function incompleteModels(dir: string): Promise<string[]> {
  const models = await modelJsonsIn(dir);
  if (models.length === 0) return [`${dir} holds no model.json`];
  const outcome = await runNode([STOCK_CHECK, ...models], { cwd: dir, timeoutMs: STOCK_CHECK_TIMEOUT_MS });
  if (outcome.timedOut) return [`stock tfjs did not finish loading ${models.join(', ')} within ${STOCK_CHECK_TIMEOUT_MS / 1000} s`];
  if (outcome.overMemory) return [`stock tfjs went above the memory cap loading ${models.join(', ')}`];
  try {
    return JSON.parse(outcome.stdout) as string[];
  } catch {
    return [`stock tfjs crashed loading ${models.join(', ')} (exit ${outcome.code})`];
  }
}

const LEFTOVER = /\.slim-(tmp|old)-/;

/** Temp or moved-aside folders of slim's atomic writes under `dir` (recursive) and beside `outputs`. */
export async function leftovers(dir: string, outputs: string[]): Promise<string[]> {
  const found = new Set<string>();
  const scan = async (at: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(at, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (LEFTOVER.test(entry.name)) found.add(path.join(at, entry.name));
      else if (entry.isDirectory() && depth > 0) await scan(path.join(at, entry.name), depth - 1);
    }
  };
  await scan(dir, 4);
  for (const out of outputs) {
    const parent = path.dirname(out);
    if (!parent.startsWith('/proc') && !parent.startsWith('/sys')) await scan(parent, 0);
  }
  return [...found];
}

// ---------------------------------------------------------------- the rule

/** Problems with what a failed run printed: stdout empty, one `error:` line and it is the last, no stack. */
export function outputProblems(outcome: RunOutcome): string[] {
  const problems: string[] = [];
  if (outcome.stdout !== '') problems.push(`stdout not empty: ${JSON.stringify(outcome.stdout.slice(0, 120))}`);
  const lines = outcome.stderr.split('\n').filter((line) => line.trim() !== '');
  const errorLines = lines.filter((line) => line.startsWith('error:'));
  if (errorLines.length !== 1)
    problems.push(
      `${errorLines.length} lines start with "error:" (expected 1)${lines.length ? `; last stderr line: ${lines[lines.length - 1].slice(0, 160)}` : ''}`,
    );
  else if (!lines[lines.length - 1].startsWith('error:'))
    problems.push(`the error takes several lines (${lines.length - lines.indexOf(errorLines[0])} lines from "error:" on)`);
  if (STACK_FRAME.test(outcome.stderr)) problems.push('stack trace on stderr');
  const internal = /internal error: ?([^\n]*)/.exec(outcome.stderr);
  if (internal) problems.push(`"internal error: ${internal[1].replace(/ \(run with --verbose for the stack\)/, '').slice(0, 140)}"`);
  return problems;
}

/** What a run expected to succeed did wrong on its streams: any error line, stack or internal error. */
export function successProblems(outcome: RunOutcome): string[] {
  const problems: string[] = [];
  const errorLine = outcome.stderr.split('\n').find((line) => line.startsWith('error:'));
  if (errorLine !== undefined) problems.push(`succeeded but printed ${JSON.stringify(errorLine.slice(0, 160))}`);
  if (STACK_FRAME.test(outcome.stderr)) problems.push('stack trace on stderr');
  return problems;
}

/** What the run itself did wrong: no exit, over memory, wrong exit code. */
export function exitProblems(outcome: RunOutcome, expected: number, timeoutMs: number): string[] {
  if (outcome.timedOut) return [`no exit within ${timeoutMs / 1000} s (hang)`];
  if (outcome.overMemory) return [`killed above the ${MEMORY_CAP_BYTES / 1024 ** 3} GB memory cap`];
  if (outcome.code !== expected) {
    const fatal = /FATAL ERROR[^\n]*|Fatal[^\n]*/.exec(outcome.stderr)?.[0];
    return [`exit ${outcome.code} (expected ${expected})${fatal ? `: ${fatal.slice(0, 120)}` : ''}`];
  }
  return [];
}
