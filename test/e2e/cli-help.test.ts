/**
 * `--help` through the built binary with stdout piped (not a TTY): descriptions wrap at word
 * boundaries. The reference is the same help laid out without wrapping (in-process, wrap(null)):
 * every token of a wrapped line must be a whole token of that text, so a word cut in two ("f" +
 * "ine-tune", "before" + "/after") fails.
 *
 * The binary is spawned for the root help and two commands, and its piped output must equal the
 * in-process help at the piped width, byte for byte: the width and the layout are one code path
 * (buildCli's .wrap and the cliui patch in src/cli.ts) for every command. Every command's help is
 * then checked in-process at that width, which costs no process start-up per command.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCli } from '../../src/cli.js';
import { describeRun, runSlim } from '../helpers/cli.js';

/** Width help is wrapped to when stdout has no columns (src/cli.ts). */
const PIPED_WIDTH = 100;

/** Commands whose help is also taken from the binary: one with many options, one with few. */
const SPAWNED = [[], ['run'], ['export']];

async function unwrappedHelp(command: string[]): Promise<string> {
  return buildCli(command).wrap(null).getHelp();
}

async function pipedHelp(command: string[]): Promise<string> {
  return buildCli(command).wrap(PIPED_WIDTH).getHelp();
}

function tokens(text: string): string[] {
  return text.split(/\s+/).filter((t) => t !== '');
}

async function assertWrapsAtWords(command: string[], help: string): Promise<void> {
  const reference = await unwrappedHelp(command);
  const words = new Set(tokens(reference));
  const what = ['slim', ...command, '--help'].join(' ');
  const lines = help.trimEnd().split('\n');
  for (const line of lines) {
    assert.ok(line.length <= PIPED_WIDTH, `${what}: line longer than ${PIPED_WIDTH}: ${JSON.stringify(line)}`);
    for (const token of tokens(line)) {
      assert.ok(words.has(token), `${what}: ${JSON.stringify(token)} is not a whole word (line ${JSON.stringify(line)})`);
    }
  }
  // Same words, only laid out differently.
  assert.deepEqual(tokens(help).sort(), tokens(reference).sort());
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
  for (const command of SPAWNED) {
    assert.ok(
      command.every((name) => commands.includes(name)),
      `${command.join(' ')} is not a command`,
    );
    const result = await runSlim([...command, '--help']);
    assert.equal(result.code, 0, describeRun(result));
    // What the binary prints piped is the in-process layout at the piped width, so the per-command checks below hold for it.
    assert.equal(result.stdout.trimEnd(), (await pipedHelp(command)).trimEnd(), ['slim', ...command, '--help'].join(' '));
    await assertWrapsAtWords(command, result.stdout);
  }
  await assertWrapsAtWords([], await pipedHelp([]));
  for (const command of commands) await assertWrapsAtWords([command], await pipedHelp([command]));
});
