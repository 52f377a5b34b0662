/**
 * The C library's malloc settings the daemon starts with (`GLIBC_TUNABLES`): one arena, as
 * daemon/memory.ts sets at run time, which only reaches the threads that have not
 * allocated yet (V8's helper threads have by then). `bin/yard daemon` and the lab start
 * the daemon with it; the daemon takes it out of its environment again, so the commands and
 * sandbox processes it starts do not inherit it. A module of its own (no imports) so the lab
 * can name it without loading the daemon.
 */
export const DAEMON_GLIBC_TUNABLES = 'glibc.malloc.arena_max=1';
