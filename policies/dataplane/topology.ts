/**
 * The harness's network: one network namespace per proxy (its pod IP on `eth0`, and for a
 * sidecar istio-iptables' inbound capture to port 15006), one for the client (the corpus's
 * source addresses), joined by a bridge in a hub namespace. Every namespace's default route
 * leads to the client's, so no packet can leave the machine. Everything it creates it records,
 * and `teardown` removes, on success, failure and interrupt alike.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIENT_ADDRESSES } from './corpus.js';
import type { Proxy } from './model.js';

const STATE = '/run/meshward-dataplane';
const CLIENT_IP = CLIENT_ADDRESSES[0];
/** Ports istio-iptables leaves alone (the sidecar's own and HBONE). */
const NOT_CAPTURED = [15008, 15090, 15021, 15020];

export interface Topology {
  readonly id: string;
  /** The namespace of each proxy, by inventory key. */
  readonly namespaces: ReadonlyMap<string, string>;
  readonly client: string;
  /** Runs a long-lived process in a namespace; stopped by teardown. */
  start(ns: string, name: string, command: string, args: readonly string[], cwd: string): void;
  /** Runs a command in a namespace and returns its stdout (throws with its stderr). */
  exec(ns: string, command: string, args: readonly string[]): string;
  /** The logs of every process started, for failure messages. */
  logs(): string;
  teardown(): void;
}

function run(command: string, args: readonly string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')}: ${(r.stderr || r.stdout || String(r.error)).trim()}`,
    );
  }
  return r.stdout;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Removes what runs whose process is gone left behind. */
export function removeStale(): void {
  mkdirSync(STATE, { recursive: true });
  for (const f of readdirSync(STATE).filter((x) => x.endsWith('.json'))) {
    const state = JSON.parse(readFileSync(join(STATE, f), 'utf8')) as {
      pid: number;
      namespaces: string[];
      groups: number[];
    };
    if (alive(state.pid)) continue;
    cleanup(state.namespaces, state.groups);
    rmSync(join(STATE, f), { force: true });
  }
}

function cleanup(namespaces: readonly string[], groups: readonly number[]): void {
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const ns of namespaces) spawnSync('ip', ['netns', 'delete', ns]);
}

export function buildTopology(proxies: readonly Proxy[], logDir: string): Topology {
  if (process.getuid?.() !== 0) {
    throw new Error('the data-plane harness needs root (network namespaces and iptables)');
  }
  removeStale();
  const id = Math.floor(Math.random() * 0xffff)
    .toString(16)
    .padStart(4, '0');
  const prefix = `mwdp${id}`;
  const created: string[] = [];
  const groups: number[] = [];
  const stateFile = join(STATE, `${prefix}.json`);
  const save = () => {
    writeFileSync(stateFile, JSON.stringify({ pid: process.pid, namespaces: created, groups }));
  };
  const netns = (name: string) => {
    run('ip', ['netns', 'add', name]);
    created.push(name);
    save();
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  };
  const logFiles: string[] = [];
  let torn = false;
  const teardown = () => {
    if (torn) return;
    torn = true;
    cleanup([...created].reverse(), groups);
    rmSync(stateFile, { force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    teardown();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', teardown);
  try {
    const hub = `${prefix}-hub`;
    netns(hub);
    run('ip', ['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    run('ip', ['-n', hub, 'link', 'set', 'br0', 'up']);
    // A veth pair: `h<n>` on the bridge, `eth0` in the namespace with the address.
    const attach = (ns: string, n: number, addresses: readonly string[]) => {
      const peer = `${prefix}x${String(n)}`.slice(0, 15);
      run('ip', ['-n', hub, 'link', 'add', `h${String(n)}`, 'type', 'veth', 'peer', 'name', peer]);
      run('ip', ['-n', hub, 'link', 'set', peer, 'netns', ns]);
      run('ip', ['-n', ns, 'link', 'set', peer, 'name', 'eth0']);
      run('ip', ['-n', hub, 'link', 'set', `h${String(n)}`, 'master', 'br0', 'up']);
      for (const a of addresses) run('ip', ['-n', ns, 'addr', 'add', a, 'dev', 'eth0']);
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    };
    const client = `${prefix}-c`;
    netns(client);
    attach(client, 0, [`${CLIENT_IP}/24`, ...CLIENT_ADDRESSES.slice(1).map((a) => `${a}/32`)]);
    const namespaces = new Map<string, string>();
    proxies.forEach((p, i) => {
      const ns = `${prefix}-p${String(i)}`;
      netns(ns);
      attach(ns, i + 1, [`${p.podIp}/24`]);
      run('ip', ['-n', ns, 'route', 'add', 'default', 'via', CLIENT_IP]);
      if (p.kind === 'sidecar') capture(ns);
      namespaces.set(`${p.namespace}/${p.name}`, ns);
    });
    return {
      id: prefix,
      namespaces,
      client,
      start(ns, name, command, args, cwd) {
        const log = join(logDir, `${name}.log`);
        logFiles.push(log);
        const out = openSync(log, 'a');
        const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
          cwd,
          detached: true,
          stdio: ['ignore', out, out],
        });
        if (child.pid === undefined) throw new Error(`could not start ${name}`);
        groups.push(child.pid);
        save();
        child.unref();
      },
      exec: (ns, command, args) => run('ip', ['netns', 'exec', ns, command, ...args]),
      logs: () =>
        logFiles
          .map((f) => {
            let text = '';
            try {
              text = readFileSync(f, 'utf8');
            } catch {
              // not written yet
            }
            return `--- ${f}\n${text.slice(-3000)}`;
          })
          .join('\n'),
      teardown,
    };
  } catch (e) {
    teardown();
    throw e;
  }
}

/** istio-iptables' inbound capture (REDIRECT mode): every TCP port but the proxy's own. */
function capture(ns: string): void {
  const ipt = (...args: string[]) =>
    run('ip', ['netns', 'exec', ns, 'iptables', '-t', 'nat', ...args]);
  ipt('-N', 'ISTIO_INBOUND');
  ipt('-A', 'PREROUTING', '-p', 'tcp', '-j', 'ISTIO_INBOUND');
  for (const port of NOT_CAPTURED) {
    ipt('-A', 'ISTIO_INBOUND', '-p', 'tcp', '--dport', String(port), '-j', 'RETURN');
  }
  ipt('-A', 'ISTIO_INBOUND', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', '15006');
}
