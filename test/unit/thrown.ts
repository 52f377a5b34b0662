/** Shared by unit tests: run `fn` and return the YardError it throws (any other outcome fails the test). */
import { YardError } from '../../src/errors.js';

export function thrown(fn: () => unknown): YardError {
  try {
    fn();
  } catch (e) {
    if (e instanceof YardError) return e;
    throw e;
  }
  throw new Error('expected a YardError');
}
