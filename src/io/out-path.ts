/**
 * Output paths: checked before any work, created without recursive mkdir, and cleaned of what a
 * killed writer left behind.
 *
 * Every writer stages its output in `.NAME.slim-tmp-<owner>-<random>` beside the target and moves
 * an old target aside to `.NAME.slim-old-<owner>-<random>` while it renames the new one into place.
 * `<owner>` names the writing process (host, pid, start time), so a later run can tell a dead
 * writer's leftovers from a live one's and remove or restore them safely.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError, ProblemError } from '../errors.js';

/** Missing folders slim creates above an output at most; more is almost certainly a typo. */
const MAX_MISSING_LEVELS = 32;
/** Longest file name most filesystems take (ext4, xfs, btrfs, APFS, NTFS). */
const NAME_MAX = 255;
/** Characters a temp or aside name adds to the target's own name. */
const STAGING_OVERHEAD = '..slim-tmp-'.length + 8 + 1 + 10 + 1 + 12 + 1 + 12;
/** Real paths no output may land in: kernel views, where recursive mkdir loops and writes mean something else. */
const FORBIDDEN_ROOTS = ['/proc', '/sys'];

export type OutKind = 'folder' | 'file';

/** Start of a process in clock ticks since boot (Linux), or undefined where that cannot be read. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const HOST = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
const OWNER = `${HOST}-${process.pid}-${processStart(process.pid) ?? '0'}`;
const OWNER_PATTERN = /^([0-9a-f]{8})-(\d+)-(\d+)-/;

/** The name of a new staging entry (`kind` tmp or old) for `target`, owned by this process. */
export function stagingPath(target: string, kind: 'tmp' | 'old'): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.slim-${kind}-${OWNER}-${randomBytes(6).toString('hex')}`);
}

/** True unless the owner named in a staging entry is known to be gone (other hosts and old names count as alive). */
function ownerAlive(owner: string): boolean {
  const match = OWNER_PATTERN.exec(owner);
  if (match === null || match[1] !== HOST) return true;
  const pid = Number(match[2]);
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The pid is in use: it is the writer unless its start time shows a newer process took the pid.
  const start = processStart(pid);
  return match[3] === '0' || start === undefined || start === match[3];
}

/**
 * Finishes what dead writers left beside `target`: their temp entries are removed; an aside copy is
 * renamed back when the target is missing (the kill fell between the two renames) and removed when
 * the target exists (the new one made it). Entries of live processes are left alone.
 */
export async function recoverStaging(target: string): Promise<void> {
  const parent = path.dirname(target);
  const prefix = (kind: string) => `.${path.basename(target)}.slim-${kind}-`;
  let names: string[];
  try {
    names = await fs.readdir(parent);
  } catch {
    return; // no parent yet: nothing to recover
  }
  const dead = (name: string, kind: string) => name.startsWith(prefix(kind)) && !ownerAlive(name.slice(prefix(kind).length));
  for (const name of names.filter((n) => dead(n, 'tmp'))) await fs.rm(path.join(parent, name), { recursive: true, force: true });
  const asides = names.filter((n) => dead(n, 'old'));
  for (const name of asides) {
    const aside = path.join(parent, name);
    if (await lstatOrUndefined(target)) await fs.rm(aside, { recursive: true, force: true });
    else await fs.rename(aside, target);
  }
}

async function lstatOrUndefined(p: string) {
  return fs.lstat(p).catch(() => undefined);
}

function isInside(child: string, ancestor: string): boolean {
  const relative = path.relative(ancestor, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** The real path `p` would have: the nearest existing ancestor resolved, plus the missing rest. */
async function realTarget(p: string): Promise<{ real: string; existing: string; missing: number }> {
  let existing = p;
  const rest: string[] = [];
  while ((await lstatOrUndefined(existing)) === undefined && path.dirname(existing) !== existing) {
    rest.unshift(path.basename(existing));
    existing = path.dirname(existing);
  }
  return { real: path.join(await fs.realpath(existing), ...rest), existing, missing: rest.length };
}

/** What else an output path is checked against. */
export interface OutPathOptions {
  /** The flag that named it (`--html`), put before the path in messages; --out when absent. */
  flag?: string;
  /** Files the same command reads (model.json and its weights, configs, logs): never an output. */
  inputs?: readonly string[];
  /** Said after the refusal of a device, FIFO or socket, where the flag takes '-' for stdout. */
  stdoutHint?: string;
}

/** What a path that is not a regular file or folder is, in words (undefined for files and folders). */
function specialKind(stats: import('node:fs').Stats): string | undefined {
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device file';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (!stats.isFile() && !stats.isDirectory()) return 'not a regular file';
  return undefined;
}

/**
 * Checks that `out` can be written as a `kind` before any work: refuses "", the current folder and
 * its ancestors (`.`, `..`, `/`), /proc and /sys (real path), a path through a file, a dangling
 * symlink, a device file, FIFO or socket, a symlink as the output itself (slim replaces outputs by
 * renaming, which would replace the link rather than write through it), a folder where a file goes
 * and the reverse, any of the command's inputs (real paths compared), a name too long for its
 * staging copies, and a parent that cannot be created or written. Then removes or restores dead
 * writers' staging entries beside it. Throws InputError naming the user's path (and its flag).
 */
export async function checkOutPath(out: string, kind: OutKind, options: OutPathOptions = {}): Promise<void> {
  const flag = options.flag ?? '--out';
  const label = options.flag === undefined ? out : `${flag} ${out}`;
  if (out.trim() === '') throw new InputError(`${flag}: is empty; give a ${kind} to write`);
  const target = path.resolve(out);
  for (const part of target.split(path.sep)) {
    if (part.length + STAGING_OVERHEAD > NAME_MAX) {
      throw new InputError(
        `${label}: the name "${part.slice(0, 20)}…" is too long (${part.length} characters; at most ${NAME_MAX - STAGING_OVERHEAD})`,
      );
    }
  }
  await refuseBrokenComponents(label, target);
  const stats = await lstatOrUndefined(target);
  const resolved = stats === undefined ? undefined : await fs.stat(target);
  const special = resolved === undefined ? undefined : specialKind(resolved);
  if (special !== undefined) {
    throw new InputError(
      `${label}: is ${special}, not a place slim can write a ${kind} to${options.stdoutHint ? `; ${options.stdoutHint}` : ''}`,
    );
  }
  const { real, existing, missing } = await realTarget(target);
  const forbidden = FORBIDDEN_ROOTS.find((root) => isInside(real, root));
  if (forbidden !== undefined) throw new InputError(`${label}: is under ${forbidden} (a kernel view, not a place for files)`);
  if (isInside(await fs.realpath(process.cwd()), real)) {
    throw new InputError(`${label}: is the current folder or contains it; give a ${kind === 'folder' ? 'folder of its own' : 'file name'}`);
  }
  if (missing > MAX_MISSING_LEVELS)
    throw new InputError(`${label}: ${missing} folders would have to be created (at most ${MAX_MISSING_LEVELS})`);
  if (resolved !== undefined && kind === 'folder' && !resolved.isDirectory()) throw new InputError(`${label}: exists and is not a folder`);
  if (resolved !== undefined && kind === 'file' && resolved.isDirectory()) throw new InputError(`${label}: is a folder; give a file name`);
  if (stats?.isSymbolicLink() === true) {
    throw new InputError(
      `${label}: is a symlink; give the path it points to (${await fs.realpath(target)}): slim replaces an output whole and would replace the link`,
    );
  }
  for (const input of options.inputs ?? []) {
    const inputReal = await fs.realpath(input).catch(() => path.resolve(input));
    if (inputReal === real) throw new InputError(`${label}: is an input of this command (${input}); writing it would destroy the input`);
  }
  // The folder that will hold the staging entries must take new entries.
  const writableDir = missing === 0 ? path.dirname(target) : existing;
  try {
    await fs.access(writableDir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    throw new InputError(`${label}: cannot write in ${writableDir} (${(error as NodeJS.ErrnoException).code ?? 'not writable'})`);
  }
  if (locking) await lockOutput(real, `${flag} ${out}`);
  await recoverStaging(target);
}

/** Whether checkOutPath takes an output's lock: the CLI turns it on (see lockOutput); library callers decide for themselves. */
let locking = false;

/** From now on every output checked by checkOutPath is locked for this process's lifetime (the CLI calls this once). */
export function lockOutputsUntilExit(): void {
  locking = true;
}

/** Lock files this process holds (absolute paths), removed when it exits. */
const heldLocks = new Set<string>();

function releaseLocks(): void {
  for (const lock of heldLocks) {
    try {
      if (readFileSync(lock, 'utf8') === OWNER) unlinkSync(lock);
    } catch {
      // already gone: nothing to release
    }
  }
  heldLocks.clear();
}

/**
 * The lock file that says which process is writing the output whose real path is `real`: in the
 * temp folder, named by a hash of that path, so taking it creates nothing beside the output (whose
 * parents may not exist yet) and leaves nothing there after a refusal.
 */
export function lockPath(real: string): string {
  return path.join(os.tmpdir(), `slim-lock-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`);
}

/**
 * One writer per output: a second slim started on the same output while the first still runs is
 * refused at the start (exit 1, naming the output and the other process), before any work, rather
 * than racing it to the final rename. The lock (see lockPath) holds the owner (host, pid, start
 * time); it is removed when this process exits, and a lock whose owner is gone (a killed slim) is
 * taken over. Re-entrant within one process. Covers the processes of one machine.
 */
async function lockOutput(real: string, label: string): Promise<void> {
  const lock = lockPath(real);
  if (heldLocks.has(lock)) return;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await createLock(lock)) {
      if (heldLocks.size === 0) process.once('exit', releaseLocks);
      heldLocks.add(lock);
      return;
    }
    const owner = await fs.readFile(lock, 'utf8').catch(() => undefined);
    if (owner === undefined) continue; // released between the two calls: try again
    if (owner === OWNER) return;
    // createLock never shows an empty lock, so an empty one was left by a slim killed between
    // creating and writing it (slim before createLock): stale, like any other dead owner's.
    if (owner !== '' && ownerAlive(`${owner}-`)) {
      const pid = OWNER_PATTERN.exec(`${owner}-`)?.[2];
      throw new ProblemError(
        `${label}: another slim${pid !== undefined ? ` (pid ${pid})` : ''} is writing it; wait for it to finish or choose another output`,
      );
    }
    // The owner is gone (killed): its lock is stale. Removed only if it still names that owner.
    if ((await fs.readFile(lock, 'utf8').catch(() => undefined)) === owner) await fs.rm(lock, { force: true });
  }
  throw new ProblemError(`${label}: could not take the output's lock ${lock}; another slim may be starting on it`);
}

/**
 * Creates `lock` holding OWNER, or returns false if it exists. The content is written to a file of
 * this process's own first and hard-linked into place (link fails if the name exists), so another
 * slim never reads a lock that exists but is still empty: with create-then-write it could, and took
 * it for a live owner it could not name. Where the file system has no hard links, create-then-write.
 */
async function createLock(lock: string): Promise<boolean> {
  const own = `${lock}.${OWNER}-${randomBytes(6).toString('hex')}`;
  try {
    await fs.writeFile(own, OWNER, { flag: 'wx' });
    await fs.link(own, lock);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error;
  } finally {
    await fs.rm(own, { force: true });
  }
  try {
    await fs.writeFile(lock, OWNER, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Walks `target` from the root: every existing component before the last must be a folder, and no component a dangling symlink. */
async function refuseBrokenComponents(out: string, target: string): Promise<void> {
  const parts = target.split(path.sep).filter((part) => part !== '');
  let current = path.parse(target).root;
  for (const [index, part] of parts.entries()) {
    current = path.join(current, part);
    const link = await lstatOrUndefined(current);
    if (link === undefined) return; // the rest is missing and will be created
    const stats = await fs.stat(current).catch(() => undefined);
    if (stats === undefined) throw new InputError(`${out}: ${current} is a symlink to nothing (dangling)`);
    if (index < parts.length - 1 && !stats.isDirectory()) throw new InputError(`${out}: goes through ${current}, which is not a folder`);
  }
}

/**
 * Creates the missing folders above `target`, one level at a time (Node's recursive mkdir can loop
 * forever on procfs), at most MAX_MISSING_LEVELS of them. Folders get the umask's permissions.
 */
export async function createParents(target: string): Promise<void> {
  const missing: string[] = [];
  let dir = path.dirname(path.resolve(target));
  while ((await lstatOrUndefined(dir)) === undefined) {
    if (missing.length >= MAX_MISSING_LEVELS || path.dirname(dir) === dir) {
      throw new InputError(`${target}: cannot create its parent folders (more than ${MAX_MISSING_LEVELS} missing)`);
    }
    missing.unshift(dir);
    dir = path.dirname(dir);
  }
  for (const folder of missing) {
    try {
      await fs.mkdir(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new InputError(`${folder}: cannot create folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
          cause: error,
        });
      }
    }
  }
}
