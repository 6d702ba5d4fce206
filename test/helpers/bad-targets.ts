/**
 * A working folder holding one of each kind of bad output target (a folder, a file of the user's,
 * a symlink to another file, a fifo, a socket) for the output-path refusals, in-process and through
 * the binary. Returns a function that closes the socket's server.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import * as path from 'node:path';

export async function writeBadTargets(work: string): Promise<() => Promise<void>> {
  await mkdir(path.join(work, 'a-folder'), { recursive: true });
  await writeFile(path.join(work, 'keep.txt'), 'mine\n');
  await writeFile(path.join(work, 'target.html'), 'not yours\n');
  await symlink(path.join(work, 'target.html'), path.join(work, 'link.html'));
  execFileSync('mkfifo', [path.join(work, 'fifo')]);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path.join(work, 'socket'), resolve));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
