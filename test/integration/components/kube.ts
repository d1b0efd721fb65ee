/**
 * A real control plane on loopback: etcd + kube-apiserver built from the pinned Kubernetes
 * release, no controllers. Auth is a static admin token (group system:masters) with RBAC on;
 * service-account keys are generated with openssl; Pod Security admission runs as in a cluster.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePort,
  run,
  runDir,
  startServer,
  waitUntil,
  type CommandResult,
  type Server,
} from './process.js';
import { tools } from './tools.js';

export interface ControlPlane {
  readonly kubeconfig: string;
  /** Runs kubectl against the control plane. */
  kubectl(args: readonly string[], input?: string): CommandResult;
  stop(): Promise<void>;
}

export async function startControlPlane(): Promise<ControlPlane> {
  const dir = join(runDir, 'kube');
  mkdirSync(dir, { recursive: true });
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const servers: Server[] = [];
  const stop = async () => {
    for (const server of servers.reverse()) await server.stop();
  };
  try {
    const etcdUrl = `http://127.0.0.1:${String(etcdClient)}`;
    const peerUrl = `http://127.0.0.1:${String(etcdPeer)}`;
    const etcd = startServer('etcd', tools.etcd(), [
      '--name=meshward',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=meshward=${peerUrl}`,
      '--log-level=warn',
    ]);
    servers.push(etcd);
    await waitUntil(etcd, 'healthy', async () => (await fetch(`${etcdUrl}/health`)).ok);

    const saKey = join(dir, 'sa.key');
    const saPub = join(dir, 'sa.pub');
    for (const [args, what] of [
      [['genrsa', '-out', saKey, '2048'], 'service-account key'],
      [['rsa', '-in', saKey, '-pubout', '-out', saPub], 'service-account public key'],
    ] as const) {
      const result = run('openssl', args);
      if (result.status !== 0) throw new Error(`openssl ${what}: ${result.stderr}`);
    }
    const token = 'meshward-integration-admin';
    writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);

    const apiserver = startServer('kube-apiserver', tools.kubeApiserver(), [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${String(apiPort)}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.96.0.0/16',
    ]);
    servers.push(apiserver);

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: meshward',
        '  cluster:',
        `    server: https://127.0.0.1:${String(apiPort)}`,
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: meshward',
        '  context: {cluster: meshward, user: admin}',
        'current-context: meshward',
        '',
      ].join('\n'),
    );
    const kubectl = (args: readonly string[], input?: string) =>
      run(tools.kubectl(), [`--kubeconfig=${kubeconfig}`, ...args], { input });
    await waitUntil(
      apiserver,
      'ready',
      () => Promise.resolve(kubectl(['get', '--raw', '/readyz']).stdout.trim() === 'ok'),
      180_000,
    );
    return { kubeconfig, kubectl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
