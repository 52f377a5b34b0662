/** Docker-style generated names (adjective_noun) for sandboxes started without --name. */
import { randomInt } from 'node:crypto';

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'noble', 'quick', 'quiet', 'sharp', 'swift', 'tidy', 'vivid', 'wise', 'zen'];
const NOUNS = ['bridge', 'switch', 'router', 'packet', 'frame', 'socket', 'beacon', 'signal', 'relay', 'gateway', 'carrier', 'channel', 'vector', 'tunnel', 'anchor', 'harbor'];

export function randomName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}_${randomInt(1000)}`;
}
