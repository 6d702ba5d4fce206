/**
 * `--help` through the built binary with stdout piped (not a TTY): descriptions wrap at word
 * boundaries. The reference is the same help laid out without wrapping (in-process, wrap(null)):
 * every token of a wrapped line must be a whole token of that text, so a word cut in two ("f" +
 * "ine-tune", "before" + "/after") fails.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCli } from '../../src/cli.js';
import { describeRun, runSlim } from '../helpers/cli.js';

/** Width help is wrapped to when stdout has no columns (src/cli.ts). */
const PIPED_WIDTH = 100;

async function unwrappedHelp(command: string[]): Promise<string> {
  return buildCli(command).wrap(null).getHelp();
}

function tokens(text: string): string[] {
  return text.split(/\s+/).filter((t) => t !== '');
}

async function assertWrapsAtWords(command: string[]): Promise<void> {
  const result = await runSlim([...command, '--help']);
  assert.equal(result.code, 0, describeRun(result));
  const reference = await unwrappedHelp(command);
  const words = new Set(tokens(reference));
  const what = ['slim', ...command, '--help'].join(' ');
  const lines = result.stdout.trimEnd().split('\n');
  for (const line of lines) {
    assert.ok(line.length <= PIPED_WIDTH, `${what}: line longer than ${PIPED_WIDTH}: ${JSON.stringify(line)}`);
    for (const token of tokens(line)) {
      assert.ok(words.has(token), `${what}: ${JSON.stringify(token)} is not a whole word (line ${JSON.stringify(line)})`);
    }
  }
  // Same words, only laid out differently.
  assert.deepEqual(tokens(result.stdout).sort(), tokens(reference).sort());
}

test('--help piped: every command description and option wraps at word boundaries', async () => {
  const root = await unwrappedHelp([]);
  const commands = [...root.matchAll(/^ {2}slim (\S+)/gm)].map((m) => m[1]);
  assert.ok(commands.includes('prune') && commands.includes('run'), `commands listed: ${commands.join(', ')}`);
  // The check means something only if some help line is longer than the width and must wrap.
  assert.ok(
    root.split('\n').some((line) => line.length > PIPED_WIDTH),
    'no root help line needs wrapping',
  );
  await assertWrapsAtWords([]);
  for (const command of commands) await assertWrapsAtWords([command]);
});
