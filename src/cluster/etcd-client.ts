/**
 * The etcd client, wrapped so that every call fails fast with CLUSTER_UNAVAILABLE (a
 * deadline on each call) instead of hanging while the store is down. The etcd3 package
 * (gRPC, protobuf: about 30 MiB of a daemon's memory) is loaded only by a daemon that has a
 * cluster store (`ClusterStore.open`).
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import { YardError } from '../errors.js';

const CALL_DEADLINE_MS = 2_000;

/** `etcd://a:2379[,b:2479...]` -> gRPC endpoints. */
export function parseStoreUrl(url: string): string[] {
  const m = /^etcd:\/\/(.+)$/.exec(url.trim());
  const hosts = m ? m[1]!.replace(/\/$/, '').split(',').filter(Boolean) : [];
  if (!hosts.length || hosts.some((h) => !/^[A-Za-z0-9.\-[\]:]+:\d+$/.test(h))) {
    throw new YardError('INVALID_ARGUMENT', `--cluster-store ${url} is not etcd://host:port[,host:port...]`, {
      field: '--cluster-store',
      hint: 'for example --cluster-store etcd://10.231.0.1:2379',
    });
  }
  return hosts.map((h) => `http://${h}`);
}

export class ClusterStore {
  private constructor(
    readonly url: string,
    readonly client: Etcd3,
  ) {}

  static async open(url: string): Promise<ClusterStore> {
    const hosts = parseStoreUrl(url);
    const { Etcd3: Client } = await import('etcd3');
    return new ClusterStore(
      url,
      new Client({ hosts, dialTimeout: 1_000, defaultCallOptions: () => ({ deadline: new Date(Date.now() + CALL_DEADLINE_MS) }) }),
    );
  }

  unavailable(what: string, e: unknown): YardError {
    if (e instanceof YardError) return e;
    return new YardError('CLUSTER_UNAVAILABLE', `${what}: the cluster store ${this.url} does not answer (${(e as Error).message.split('\n')[0]})`, {
      field: '--cluster-store',
      hint: 'start etcd or fix --cluster-store; local networks keep working, and the daemon catches up when the store is back',
      cause: e,
    });
  }

  /** Run one store call; any failure becomes CLUSTER_UNAVAILABLE naming `what`. */
  async call<T>(what: string, fn: (c: Etcd3) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(this.client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${CALL_DEADLINE_MS} ms`)), CALL_DEADLINE_MS + 500);
        }),
      ]);
    } catch (e) {
      throw this.unavailable(what, e);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Everything under a prefix, with the store revision it was read at. */
  async list(what: string, prefix: string): Promise<{ kvs: Map<string, string>; revision: string; raw: IKeyValue[] }> {
    const res = await this.call(what, (c) => c.getAll().prefix(prefix).exec());
    const kvs = new Map(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
    return { kvs, revision: res.header.revision, raw: res.kvs };
  }

  close(): void {
    this.client.close();
  }
}
