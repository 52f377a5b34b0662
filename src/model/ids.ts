/** IDs, names and Docker's lookup order (full ID, then exact name, then unique ID prefix). */
import { randomFillSync } from 'node:crypto';
import { YardError, type ErrorCode } from '../errors.js';

const ID_BYTES = 32;
/** Random bytes for the next 64 IDs, drawn at once: one call to the generator instead of one per ID. */
const idPool = Buffer.alloc(ID_BYTES * 64);
let idNext = idPool.length;

/** 64 hex digits from the system's cryptographic generator, each byte used once. */
export function newId(): string {
  if (idNext === idPool.length) {
    randomFillSync(idPool);
    idNext = 0;
  }
  const id = idPool.toString('hex', idNext, idNext + ID_BYTES);
  idNext += ID_BYTES;
  return id;
}

export const shortId = (id: string) => id.slice(0, 12);

const ID_RE = /^[0-9a-f]{64}$/;

/** An ID given from outside (a runtime's network or endpoint ID): 64 lowercase hex digits, as Switchyard's own. */
export function validateId(kind: 'network' | 'sandbox' | 'endpoint', id: unknown, field = `${kind} id`): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new YardError('INVALID_ARGUMENT', `${field} ${JSON.stringify(String(id).slice(0, 80))} is not 64 lowercase hex digits`, { field, hint: 'give the full ID as the runtime printed it' });
  }
  return id;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const MAX_NAME = 64;

export function validateName(kind: 'network' | 'sandbox', name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new YardError('INVALID_NAME', `${kind} ${field} is empty`, { field, hint: `give the ${kind} a name` });
  }
  if (name.length > MAX_NAME) {
    throw new YardError('INVALID_NAME', `${kind} name "${name.slice(0, 20)}..." is ${name.length} characters long`, {
      field,
      hint: `use at most ${MAX_NAME} characters`,
    });
  }
  if (!NAME_RE.test(name)) {
    throw new YardError('INVALID_NAME', `${kind} name "${name}" has characters outside [a-zA-Z0-9_.-] or starts with one of _.-`, {
      field,
      hint: 'use letters, digits, "_", "." and "-", starting with a letter or digit',
    });
  }
  return name;
}

interface Named {
  id: string;
  name: string;
}

/**
 * Find one record by full ID, exact name, or unique ID prefix (Docker's order). Throws the
 * kind's NOT_FOUND or AMBIGUOUS error.
 */
export function lookup<T extends Named>(kind: 'network' | 'sandbox', items: Iterable<T>, ref: string): T {
  const all = [...items];
  const byId = all.find((x) => x.id === ref);
  if (byId) return byId;
  const byName = all.filter((x) => x.name === ref);
  if (byName.length === 1) return byName[0]!;
  const lower = ref.toLowerCase();
  const byPrefix = /^[0-9a-f]+$/.test(lower) ? all.filter((x) => x.id.startsWith(lower)) : [];
  if (byPrefix.length === 1) return byPrefix[0]!;
  const up = kind === 'network' ? 'NETWORK' : 'SANDBOX';
  if (byPrefix.length > 1) {
    throw new YardError(`${up}_AMBIGUOUS` as ErrorCode, `${kind} ID prefix "${ref}" matches ${byPrefix.length} ${kind === 'sandbox' ? 'sandboxes' : 'networks'}`, {
      hint: 'give more characters of the ID, or the name',
    });
  }
  throw new YardError(`${up}_NOT_FOUND` as ErrorCode, `${kind} ${ref} not found`, {
    hint: kind === 'network' ? 'list networks with `yard network ls`' : 'list sandboxes with `yard ps -a`',
  });
}

/** Docker's timestamp form: RFC 3339 with nanoseconds. */
export function nowRfc3339Nano(): string {
  const iso = new Date().toISOString(); // ms precision
  const ns = String(process.hrtime.bigint() % 1_000_000n).padStart(6, '0');
  return iso.replace(/\.(\d{3})Z$/, `.$1${ns}Z`);
}
