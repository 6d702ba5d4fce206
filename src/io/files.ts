/** Small atomic file writes: temp file in the same folder, fsync, rename. Readers never see half a file. */
import { promises as fs } from 'node:fs';
import { createParents, stagingPath } from './out-path.js';

export async function writeFileAtomic(filePath: string, text: string): Promise<void> {
  await createParents(filePath);
  const temp = stagingPath(filePath, 'tmp');
  try {
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, filePath);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}
