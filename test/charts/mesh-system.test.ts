import { Testing } from 'cdk8s';

import { MeshSystem, type SystemIntent } from '../../charts/lib/index.js';

const issuer = {
  issuer: 'https://auth.example.com/realms/x',
  jwksUri: 'http://kc.auth.svc/certs',
  audiences: ['api'],
};
const base: SystemIntent = {
  namespace: 'shop',
  issuer,
  services: [
    {
      name: 'front',
      image: 'front:1',
      exposed: true,
      routes: [{ paths: ['/api/*'], authenticated: true }],
    },
    {
      name: 'back',
      image: 'back:1',
      routes: [{ methods: ['GET'], paths: ['/data'], callers: ['front'], authenticated: true }],
    },
  ],
  jobs: [{ name: 'nightly', image: 'nightly:1', schedule: '0 3 * * *' }],
};
const build = (intent: SystemIntent) =>
  Testing.synth(new MeshSystem(Testing.app(), 'sys', { intent }));

describe('MeshSystem', () => {
  test('compiles the intent: namespace, issuer, identities, policies', () => {
    const objects = build(base);
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Namespace/shop',
        'PeerAuthentication/default',
        'AuthorizationPolicy/default-deny',
        'RequestAuthentication/jwt',
        'ServiceAccount/front',
        'ServiceAccount/back',
        'ServiceAccount/nightly',
        'CronJob/nightly',
        'AuthorizationPolicy/front',
        'AuthorizationPolicy/back',
      ]),
    );
    expect(kinds[0]).toBe('Namespace/shop');
    const back = objects.find(
      (o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === 'back',
    );
    expect(back.spec.rules[0].from[0].source.principals).toEqual([
      'cluster.local/ns/shop/sa/front',
    ]);
  });

  test('the CronJob runs hardened, as its own identity', () => {
    const cron = build(base).find((o) => o.kind === 'CronJob');
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(pod.serviceAccountName).toBe('nightly');
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
  });

  test('throws when a caller is not a declared service or job', () => {
    const intent: SystemIntent = {
      ...base,
      services: [
        base.services[0],
        {
          ...base.services[1],
          routes: [{ paths: ['/data'], callers: ['frontend'], authenticated: true }],
        },
      ],
    };
    expect(() => build(intent)).toThrow(
      "caller 'frontend' is not a service or job of the system (known: front, back, nightly)",
    );
  });

  test('throws when two services share a name', () => {
    const intent: SystemIntent = { ...base, services: [base.services[0], base.services[0]] };
    expect(() => build(intent)).toThrow("service name 'front' is declared twice");
  });

  test('throws when a job has the name of a service', () => {
    const intent: SystemIntent = {
      ...base,
      jobs: [{ name: 'back', image: 'x:1', schedule: '0 3 * * *' }],
    };
    expect(() => build(intent)).toThrow("job name 'back' is declared twice");
  });

  test('throws when a token rule has no issuer in the system', () => {
    const { issuer: _omit, ...noIssuer } = base;
    expect(() => build(noIssuer)).toThrow('requires a token but the system has no JWT issuer');
  });

  test('throws when a job schedule is not a cron expression', () => {
    expect(() =>
      build({ ...base, jobs: [{ name: 'nightly', image: 'x:1', schedule: 'hourly' }] }),
    ).toThrow("MeshCronJob 'nightly': 'schedule' ('hourly') must have five cron fields");
  });
});
