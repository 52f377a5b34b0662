/**
 * IP addresses and CIDR prefixes as plain numbers. An address is a bigint so IPv4 and
 * IPv6 share one arithmetic (ranges, overlap, "next address") without 128-bit tricks.
 *
 * Parsing is strict on purpose: what the user typed ends up in kernel commands and in
 * records other tools read, so anything ambiguous (leading zeros, zones, brackets,
 * surrounding spaces) is refused rather than guessed at.
 */

export type Family = 4 | 6;

export interface Addr {
  family: Family;
  value: bigint;
}

/** `base` may carry host bits (as typed); use `canonicalPrefix` to clear them. */
export interface Prefix {
  family: Family;
  base: bigint;
  len: number;
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128);

/** Mask of the host part of a `len`-bit prefix. */
function hostMask(family: Family, len: number): bigint {
  return (1n << BigInt(bitsOf(family) - len)) - 1n;
}

// Decimal octet without leading zeros: "010" would be octal to inet_aton, decimal to others.
const OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function parseV4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    if (!OCTET.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

/** Groups of one side of `::` (or the whole address); a dotted tail counts as two. */
function parseGroups(side: string, allowV4Tail: boolean): bigint[] | null {
  if (side === '') return [];
  const parts = side.split(':');
  const groups: bigint[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (allowV4Tail && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseV4(part);
      if (v4 === null) return null;
      groups.push(v4 >> 16n, v4 & 0xffffn);
    } else if (HEXTET.test(part)) {
      groups.push(BigInt(parseInt(part, 16)));
    } else {
      return null;
    }
  }
  return groups;
}

function parseV6(text: string): bigint | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  let groups: bigint[];
  if (halves.length === 1) {
    const all = parseGroups(text, true);
    if (all === null || all.length !== 8) return null;
    groups = all;
  } else {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    // `::` stands for at least one zero group (RFC 4291 2.2).
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    groups = [...head, ...Array<bigint>(8 - head.length - tail.length).fill(0n), ...tail];
  }
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

export function parseAddr(text: string): Addr | null {
  if (typeof text !== 'string') return null;
  if (text.includes(':')) {
    const value = parseV6(text);
    return value === null ? null : { family: 6, value };
  }
  const value = parseV4(text);
  return value === null ? null : { family: 4, value };
}

function formatV4(value: bigint): string {
  // Plain numbers: the allocator formats every candidate it walks past.
  const n = Number(value & 0xffffffffn);
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** RFC 5952: lowercase, no leading zeros, the longest (first on a tie) run of 2+ zero groups as `::`. */
function formatV6(value: bigint): string {
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 section 5).
  if (value >> 32n === 0xffffn) return `::ffff:${formatV4(value & 0xffffffffn)}`;
  const groups: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(Number((value >> s) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

export function formatAddr(a: Addr): string {
  return a.family === 4 ? formatV4(a.value) : formatV6(a.value);
}

const PREFIX_LEN = /^(0|[1-9][0-9]{0,2})$/;

export function parsePrefix(text: string): Prefix | null {
  if (typeof text !== 'string') return null;
  const slash = text.indexOf('/');
  if (slash < 0 || slash !== text.lastIndexOf('/')) return null;
  const addr = parseAddr(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === null || !PREFIX_LEN.test(lenText)) return null;
  const len = Number(lenText);
  if (len > bitsOf(addr.family)) return null;
  return { family: addr.family, base: addr.value, len };
}

/** Formats the prefix as given, host bits included (so error messages echo the input). */
export function formatPrefix(p: Prefix): string {
  return `${formatAddr({ family: p.family, value: p.base })}/${p.len}`;
}

export function hasHostBits(p: Prefix): boolean {
  return (p.base & hostMask(p.family, p.len)) !== 0n;
}

export function canonicalPrefix(p: Prefix): Prefix {
  return { family: p.family, base: p.base & ~hostMask(p.family, p.len), len: p.len };
}

/** First and last address values of the prefix's network. */
export function prefixRange(p: Prefix): { first: bigint; last: bigint } {
  const mask = hostMask(p.family, p.len);
  const first = p.base & ~mask;
  return { first, last: first | mask };
}

export function prefixContains(p: Prefix, a: Addr): boolean {
  if (p.family !== a.family) return false;
  const { first, last } = prefixRange(p);
  return a.value >= first && a.value <= last;
}

export function prefixContainsPrefix(outer: Prefix, inner: Prefix): boolean {
  return (
    outer.family === inner.family &&
    outer.len <= inner.len &&
    prefixContains(outer, { family: inner.family, value: inner.base })
  );
}

/** Two prefixes overlap exactly when one contains the other (CIDR blocks nest or are disjoint). */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixContainsPrefix(a, b) || prefixContainsPrefix(b, a);
}

export function prefixSize(p: Prefix): bigint {
  return 1n << BigInt(bitsOf(p.family) - p.len);
}

export function lastAddr(p: Prefix): Addr {
  return { family: p.family, value: prefixRange(p).last };
}

/** Throws RangeError when the result leaves the family's address space: a caller bug. */
export function addrAdd(a: Addr, n: bigint): Addr {
  const value = a.value + n;
  if (value < 0n || value >> BigInt(bitsOf(a.family)) !== 0n) {
    throw new RangeError(`${formatAddr(a)} + ${n} is outside the IPv${a.family} address space`);
  }
  return { family: a.family, value };
}

export function addrEquals(a: Addr, b: Addr): boolean {
  return a.family === b.family && a.value === b.value;
}
