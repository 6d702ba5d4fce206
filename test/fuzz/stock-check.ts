/**
 * Child process of the fuzz runner: loads each model.json given as an argument with stock
 * `tf.loadLayersModel` and prints one JSON array of problems (empty = all load). Loading runs in its
 * own process because a malformed model can send tfjs into an endless loop, which would block the
 * runner's event loop and with it every timeout.
 */
import * as tf from '@tensorflow/tfjs';
import { loadWithStockTfjs } from '../helpers/stock-load.js';

tf.env().set('PROD', true);
await tf.setBackend('cpu');
const problems: string[] = [];
for (const file of process.argv.slice(2)) {
  try {
    const model = await loadWithStockTfjs(file);
    model.dispose();
  } catch (err) {
    problems.push(
      `${file} does not load in stock tfjs (${String((err as Error).message)
        .split('\n')[0]
        .slice(0, 160)})`,
    );
  }
}
process.stdout.write(JSON.stringify(problems));
