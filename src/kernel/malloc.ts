/**
 * The C allocator's two knobs the daemon uses (glibc's `mallopt` and `malloc_trim`, through
 * koffi). Node's threads (the libuv pool that runs libnftables, V8's compiler and GC
 * helpers) each get a malloc arena of their own by default, and an arena keeps the pages
 * it once used: about 15 MiB of a daemon's resident memory at start was such arenas.
 * On a C library without them (musl) both calls do nothing.
 */
import koffi from 'koffi';

/** glibc's M_ARENA_MAX (malloc.h). */
const M_ARENA_MAX = -8;

interface Malloc {
  mallopt(param: number, value: number): number;
  mallocTrim(pad: number): number;
}

let malloc: Malloc | null | undefined;
function getMalloc(): Malloc | null {
  if (malloc !== undefined) return malloc;
  try {
    const lib = koffi.load('libc.so.6');
    malloc = {
      mallopt: lib.func('int mallopt(int param, int value)'),
      mallocTrim: lib.func('int malloc_trim(size_t pad)'),
    } as Malloc;
  } catch {
    malloc = null;
  }
  return malloc;
}

/**
 * At most `n` malloc arenas for the threads that have not allocated yet: call it before the
 * thread pool starts. Returns whether the C library took it.
 */
export function limitMallocArenas(n: number): boolean {
  const m = getMalloc();
  return !!m && m.mallopt(M_ARENA_MAX, n) === 1;
}

/** Give the free pages of every malloc arena back to the kernel. Returns whether any was. */
export function trimMalloc(): boolean {
  const m = getMalloc();
  return !!m && m.mallocTrim(0) === 1;
}
