/** The output format decision (src/io/output-format.ts): name and --format together, as a table. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../src/errors.js';
import { outputFormat, type ModelFormat } from '../src/io/output-format.js';

const OK: [string, ModelFormat | undefined, ModelFormat][] = [
  ['out/model', undefined, 'layers'],
  ['out/model/', undefined, 'layers'],
  ['out/guess.keras', undefined, 'keras'],
  ['out/GUESS.KERAS', undefined, 'keras'],
  ['out/m.h5', undefined, 'h5'],
  ['out/m.hdf5', undefined, 'h5'],
  ['out/m.keras', 'keras', 'keras'],
  ['out/m.h5', 'h5', 'h5'],
  ['out/m', 'keras', 'keras'],
  ['out/m', 'h5', 'h5'],
  ['out/m/', 'layers', 'layers'],
  ['out/model.json.d', undefined, 'layers'],
];

for (const [out, flag, expected] of OK) {
  test(`--out ${out}${flag ? ` --format ${flag}` : ''} -> ${expected}`, () => {
    assert.equal(outputFormat(out, flag), expected);
  });
}

const REFUSED: [string, ModelFormat, RegExp][] = [
  ['out/dirout/', 'keras', /trailing slash \(a folder\) means a tfjs layers folder, but --format keras asks for a Keras 3 \.keras file/],
  ['out/x.keras', 'h5', /the extension \.keras means a Keras 3 \.keras file, but --format h5 asks for a Keras 2 \.h5 file/],
  ['out/x.h5', 'keras', /the extension \.h5 means a Keras 2 \.h5 file, but --format keras/],
  ['out/x.keras', 'layers', /--format layers asks for a tfjs layers folder/],
];

for (const [out, flag, message] of REFUSED) {
  test(`--out ${out} --format ${flag} is refused in one line`, () => {
    assert.throws(
      () => outputFormat(out, flag),
      (error: unknown) => error instanceof InputError && message.test(error.message) && !error.message.includes('\n'),
    );
  });
}
