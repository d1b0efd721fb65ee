/**
 * dist/ applied to a real kube-apiserver (+ etcd) with the Istio CRDs: the API server's own
 * validation (OpenAPI, CEL rules of the Istio CRDs) and Pod Security admission judge it.
 */
import { objectsOfKind, distFiles, type KubeObject } from './components/dist.js';
import { startControlPlane, type ControlPlane } from './components/kube.js';
import { tools } from './components/tools.js';

let plane: ControlPlane;

function kubectlOk(args: readonly string[], input?: string): string {
  const result = plane.kubectl(args, input);
  if (result.status !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')} failed (${String(result.status)}):\n${result.stderr}`,
    );
  }
  return result.stdout;
}

const applyArgs = (files: readonly string[]) => [
  'apply',
  '--server-side',
  '--field-manager=meshward',
  ...files.flatMap((file) => ['-f', file]),
];

/** uid -> resourceVersion of every object dist/ declares, as the API server holds them. */
function resourceVersions(): Map<string, string> {
  const list = JSON.parse(
    kubectlOk(['get', ...distFiles().flatMap((file) => ['-f', file]), '-o', 'json']),
  ) as { items: { metadata: { uid: string; resourceVersion: string } }[] };
  return new Map(list.items.map((item) => [item.metadata.uid, item.metadata.resourceVersion]));
}

interface PodTemplate {
  readonly metadata?: { readonly labels?: Record<string, string> };
  readonly spec: unknown;
}

/** The pod template of every workload in dist/, with its namespace. */
function podTemplates(): { name: string; namespace: string; template: PodTemplate }[] {
  const fromWorkload = (workload: KubeObject, template: PodTemplate) => ({
    name: `${workload.kind}/${workload.metadata.name}`,
    namespace: workload.metadata.namespace ?? 'default',
    template,
  });
  return [
    ...['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].flatMap((kind) =>
      objectsOfKind(kind).map((workload) =>
        fromWorkload(workload, (workload.spec as { template: PodTemplate }).template),
      ),
    ),
    ...objectsOfKind('CronJob').map((cronJob) =>
      fromWorkload(
        cronJob,
        (cronJob.spec as { jobTemplate: { spec: { template: PodTemplate } } }).jobTemplate.spec
          .template,
      ),
    ),
  ];
}

function podFrom(name: string, namespace: string, template: PodTemplate): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: template.metadata?.labels ?? {} },
    spec: template.spec,
  });
}

beforeAll(async () => {
  plane = await startControlPlane();
  kubectlOk(applyArgs([tools.istioCrds()]));
  kubectlOk(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=120s']);
}, 300_000);

afterAll(async () => {
  await plane.stop();
});

describe('dist/ on a real kube-apiserver', () => {
  test('GIVEN the Istio CRDs WHEN dist/ is applied server-side THEN every object is accepted without warnings', () => {
    const result = plane.kubectl(applyArgs(distFiles()));

    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const applied = result.stdout.trim().split('\n');
    expect(applied.length).toBeGreaterThan(0);
    expect(applied.every((line) => line.endsWith('serverside-applied'))).toBe(true);
  });

  test('GIVEN dist/ is applied WHEN it is applied again THEN no object changes (same resourceVersions)', () => {
    const before = resourceVersions();

    const result = plane.kubectl(applyArgs(distFiles()));

    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    expect(resourceVersions()).toEqual(before);
  });

  test('GIVEN dist/ namespaces WHEN read back from the API server THEN each enforces Pod Security restricted', () => {
    const namespaces = objectsOfKind('Namespace').map((ns) => ns.metadata.name);
    expect(namespaces.length).toBeGreaterThan(0);

    for (const name of namespaces) {
      const ns = JSON.parse(kubectlOk(['get', 'namespace', name, '-o', 'json'])) as KubeObject;
      expect({ name, enforce: ns.metadata.labels?.['pod-security.kubernetes.io/enforce'] }).toEqual(
        {
          name,
          enforce: 'restricted',
        },
      );
    }
  });

  test('GIVEN each workload pod template WHEN a Pod from it is created with --dry-run=server THEN Pod Security admission admits it without warnings', () => {
    const templates = podTemplates();
    expect(templates.length).toBeGreaterThan(0);

    for (const { name, namespace, template } of templates) {
      const result = plane.kubectl(
        ['create', '--dry-run=server', '-f', '-'],
        podFrom('meshward-psa-probe', namespace, template),
      );
      expect({ name, status: result.status, stderr: result.stderr }).toEqual({
        name,
        status: 0,
        stderr: '',
      });
    }
  });

  test('rejects the first workload pod template with privilege escalation allowed (Pod Security admission really enforces)', () => {
    const first = podTemplates().at(0);
    if (first === undefined) throw new Error('dist/ has no workload with a pod template');
    const spec = structuredClone(first.template.spec) as {
      containers: { securityContext?: Record<string, unknown> }[];
    };
    const container = spec.containers.at(0);
    if (container === undefined) throw new Error(`${first.name} has no container`);
    container.securityContext = { ...container.securityContext, allowPrivilegeEscalation: true };

    const result = plane.kubectl(
      ['create', '--dry-run=server', '-f', '-'],
      podFrom('meshward-psa-privileged', first.namespace, { ...first.template, spec }),
    );

    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('violates PodSecurity "restricted');
  });
});
