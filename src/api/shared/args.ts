/**
 * Argument checking at the library's boundary: one zod schema per function's options, and one
 * InputError naming the function and the argument path (`planPrune: options.ratio: ...`).
 */
import type { z } from 'zod';
import { InputError } from '../../errors.js';

export function parseArgument<S extends z.ZodType>(schema: S, value: unknown, fn: string, argument: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = [argument, ...issue.path.map(String)].join('.');
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more problem(s))` : '';
  throw new InputError(`${fn}: ${where}: ${issue.message}${more}`);
}
