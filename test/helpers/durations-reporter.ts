/**
 * A node:test reporter that lists where the time goes: the slowest top-level tests (with their
 * file) and the time per file, slowest first, plus the load average at the end (figures taken on a
 * busy machine are not comparable to idle ones). Used beside the usual reporter:
 *
 *   node --test --test-reporter=spec --test-reporter-destination=stdout \
 *     --test-reporter=./dist/test/helpers/durations-reporter.js --test-reporter-destination=durations.txt dist/test/*.test.js
 *
 * SLIM_SLOWEST=<n> sets how many tests are listed (default 30).
 */
import { loadavg } from 'node:os';
import * as path from 'node:path';

interface TestEventData {
  name: string;
  nesting: number;
  file?: string;
  details?: { duration_ms?: number };
}

interface TestEvent {
  type: string;
  data: TestEventData;
}

interface Timed {
  name: string;
  file: string;
  ms: number;
  failed: boolean;
}

const SLOWEST = Number(process.env.SLIM_SLOWEST ?? 30);

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export default async function* durations(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const tests: Timed[] = [];
  const started = Date.now();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { name, nesting, file, details } = event.data;
    // Nesting 0 is a top-level test (or a describe block) of a file; the file's own entry has no duration of interest.
    if (nesting !== 0 || details?.duration_ms === undefined || file === undefined || name === file) continue;
    tests.push({ name, file: path.relative(process.cwd(), file), ms: details.duration_ms, failed: event.type === 'test:fail' });
  }
  const perFile = new Map<string, number>();
  for (const t of tests) perFile.set(t.file, (perFile.get(t.file) ?? 0) + t.ms);
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  yield `# ${tests.length} top-level tests, wall ${seconds(Date.now() - started)}, load average (1/5/15 min) at the end: ${load}\n`;
  yield `# slowest ${SLOWEST} tests\n`;
  for (const t of [...tests].sort((a, b) => b.ms - a.ms).slice(0, SLOWEST)) {
    yield `${seconds(t.ms).padStart(8)}  ${t.file}  ${t.name}${t.failed ? '  (failed)' : ''}\n`;
  }
  yield `# time per file (sum of its top-level tests)\n`;
  for (const [file, ms] of [...perFile].sort((a, b) => b[1] - a[1])) yield `${seconds(ms).padStart(8)}  ${file}\n`;
}
