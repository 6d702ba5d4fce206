/**
 * The library's errors: slim's own classes (the CLI maps them to exit codes; `kind` names the code),
 * and the three misuses an in-memory model allows that a file does not, each its own class so a
 * caller can branch on it. All are bad input (exit kind 'bad-input').
 */
import { InputError, type SlimErrorOptions } from '../../errors.js';

export {
  EXIT_BAD_INPUT,
  EXIT_BUG,
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_PROBLEM,
  InputError,
  InterruptedError,
  ProblemError,
  SlimError,
  exitKindOf,
  type ExitKind,
  type SlimErrorOptions,
} from '../../errors.js';

/** The model was disposed (`model.dispose()`) before slim got it: its weights are gone. */
export class DisposedModelError extends InputError {
  constructor(message: string, options?: SlimErrorOptions) {
    super(message, options);
    this.name = 'DisposedModelError';
  }
}

/** The model was built by a TensorFlow.js of another major version than the one slim runs on. */
export class TfjsVersionError extends InputError {
  constructor(message: string, options?: SlimErrorOptions) {
    super(message, options);
    this.name = 'TfjsVersionError';
  }
}

/** The prune plan does not fit the model (made for another model, or edited into something invalid). */
export class PlanMismatchError extends InputError {
  constructor(message: string, options?: SlimErrorOptions) {
    super(message, options);
    this.name = 'PlanMismatchError';
  }
}
