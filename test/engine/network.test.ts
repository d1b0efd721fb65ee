import { parseManifests } from '../../policies/engine/index.js';
import {
  compileNetworkPolicies,
  labelSelector,
  type NetworkConnection,
} from '../../policies/engine/network.js';
import { decideYaml } from './helpers.js';

const np = (namespace: string, name: string, spec: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: ${name}, namespace: ${namespace} }
spec:
${spec}
---
`;

const ns = (name: string, labels: string) => `apiVersion: v1
kind: Namespace
metadata: { name: ${name}, labels: { ${labels} } }
---
`;

const API = { namespace: 'shop', labels: { app: 'api' } };
const WEB = { namespace: 'shop', labels: { app: 'web' } };

function admits(yaml: string, c: Partial<NetworkConnection>) {
  return compileNetworkPolicies({ objects: parseManifests(yaml, 'np.yaml') }).admits({
    source: { pod: WEB },
    destination: { pod: API },
    port: 8080,
    ...c,
  });
}

const DENY_API = np(
  'shop',
  'deny-api',
  `  podSelector: { matchLabels: { app: api } }
  policyTypes: [Ingress]`,
);

const ALLOW_WEB = np(
  'shop',
  'allow-web',
  `  podSelector: { matchLabels: { app: api } }
  ingress: [{ from: [{ podSelector: { matchLabels: { app: web } } }] }]`,
);

describe('labelSelector', () => {
  it('ANDs matchLabels and every matchExpressions operator', () => {
    const sel = labelSelector(
      {
        matchLabels: { tier: 'back' },
        matchExpressions: [
          { key: 'app', operator: 'In', values: ['api', 'db'] },
          { key: 'env', operator: 'NotIn', values: ['dev'] },
          { key: 'team', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      },
      'test',
    );
    expect(sel({ tier: 'back', app: 'api', team: 'a' })).toBe(true);
    expect(sel({ tier: 'back', app: 'api', team: 'a', env: 'prod' })).toBe(true);
    expect(sel({ tier: 'back', app: 'api', team: 'a', env: 'dev' })).toBe(false);
    expect(sel({ tier: 'back', app: 'web', team: 'a' })).toBe(false);
    expect(sel({ tier: 'back', app: 'api' })).toBe(false);
    expect(sel({ tier: 'back', app: 'api', team: 'a', legacy: 'y' })).toBe(false);
    expect(sel({ tier: 'front', app: 'api', team: 'a' })).toBe(false);
  });

  it('selects everything when empty', () => {
    expect(labelSelector({}, 'test')({ any: 'thing' })).toBe(true);
  });

  it('names the policy and the operator it cannot read', () => {
    expect(() =>
      labelSelector({ matchExpressions: [{ key: 'app', operator: 'in' }] }, 'NetworkPolicy a/b'),
    ).toThrow(/NetworkPolicy a\/b: matchExpressions operator "in" \(key 'app'\)/);
  });
});

describe('NetworkPolicy ingress', () => {
  it('admits everything to a pod no policy selects', () => {
    expect(admits(DENY_API, { destination: { pod: WEB }, source: { pod: API } })).toMatchObject({
      admitted: true,
    });
  });

  it('refuses everything to a pod a policy without rules selects, naming it', () => {
    const v = admits(DENY_API, {});
    expect(v).toMatchObject({ admitted: false, policies: ['shop/deny-api'] });
    expect(v.reason).toBe(
      'NetworkPolicy: no ingress rule of shop/deny-api admits the source on port 8080/TCP',
    );
  });

  it('ORs the rules of every policy selecting the pod', () => {
    expect(admits(DENY_API + ALLOW_WEB, {})).toMatchObject({
      admitted: true,
      policies: ['shop/allow-web'],
    });
  });

  it('reads a bare podSelector as the policy namespace only', () => {
    const y = np(
      'shop',
      'p',
      `  podSelector: {}
  ingress: [{ from: [{ podSelector: { matchLabels: { app: web } } }] }]`,
    );
    expect(admits(y, {}).admitted).toBe(true);
    expect(
      admits(y, { source: { pod: { namespace: 'other', labels: { app: 'web' } } } }),
    ).toMatchObject({ admitted: false });
  });

  it('matches namespaceSelector on the namespace labels, including kubernetes.io/metadata.name', () => {
    const y =
      ns('front', 'team: web') +
      np(
        'shop',
        'p',
        `  podSelector: {}
  ingress:
    - from:
        - namespaceSelector: { matchLabels: { team: web } }
        - namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: edge } }
          podSelector: { matchLabels: { app: proxy } }`,
      );
    const from = (namespace: string, app: string) =>
      admits(y, { source: { pod: { namespace, labels: { app } } } }).admitted;
    expect(from('front', 'anything')).toBe(true);
    expect(from('edge', 'proxy')).toBe(true);
    expect(from('edge', 'other')).toBe(false);
    expect(from('shop', 'web')).toBe(false);
  });

  it('matches ipBlock on the source address, minus its exceptions, never on a pod selector', () => {
    const y = np(
      'shop',
      'p',
      `  podSelector: {}
  ingress: [{ from: [{ ipBlock: { cidr: 10.0.0.0/8, except: [10.1.0.0/16] } }] }]`,
    );
    expect(admits(y, { source: { ip: '10.2.3.4' } }).admitted).toBe(true);
    expect(admits(y, { source: { ip: '10.1.3.4' } }).admitted).toBe(false);
    expect(admits(y, { source: { ip: '192.168.0.1' } }).admitted).toBe(false);
    expect(admits(y, { source: { pod: WEB } }).admitted).toBe(false);
  });

  it('matches ports by number, range, name and protocol', () => {
    const y = np(
      'shop',
      'p',
      `  podSelector: {}
  ingress:
    - ports:
        - { port: 8080 }
        - { port: 9000, endPort: 9010 }
        - { port: http-admin }
        - { port: 53, protocol: UDP }`,
    );
    expect(admits(y, { port: 8080 }).admitted).toBe(true);
    expect(admits(y, { port: 9005 }).admitted).toBe(true);
    expect(admits(y, { port: 9011 }).admitted).toBe(false);
    expect(admits(y, { port: 7000, portName: 'http-admin' }).admitted).toBe(true);
    expect(admits(y, { port: 7000 }).admitted).toBe(false);
    expect(admits(y, { port: 53 }).admitted).toBe(false);
    expect(admits(y, { port: 53, protocol: 'UDP' }).admitted).toBe(true);
  });

  it('does not isolate for ingress a policy of policyTypes [Egress] only', () => {
    const y = np(
      'shop',
      'p',
      `  podSelector: {}
  policyTypes: [Egress]`,
    );
    // the destination is not isolated; the source (also selected) is: nothing may leave it
    expect(admits(y, { source: { pod: { namespace: 'other', labels: {} } } }).admitted).toBe(true);
    expect(admits(y, {}).admitted).toBe(false);
  });

  it('names the policy of a peer it cannot read', () => {
    const y = np(
      'shop',
      'bad',
      `  podSelector: {}
  ingress: [{ from: [{}] }]`,
    );
    expect(() => admits(y, {})).toThrow(
      /NetworkPolicy shop\/bad ingress\[0\]\.from: a peer needs podSelector, namespaceSelector or ipBlock/,
    );
  });
});

describe('NetworkPolicy egress', () => {
  const egress = np(
    'shop',
    'web-out',
    `  podSelector: { matchLabels: { app: web } }
  egress: [{ to: [{ podSelector: { matchLabels: { app: db } } }], ports: [{ port: 5432 }] }]`,
  );

  it('isolates the source pod when spec.egress is there, and admits only its rules', () => {
    const v = admits(egress, {});
    expect(v).toMatchObject({ admitted: false, policies: ['shop/web-out'] });
    expect(v.reason).toContain(
      'NetworkPolicy: no egress rule of shop/web-out admits the destination on port 8080/TCP',
    );
    expect(
      admits(egress, {
        destination: { pod: { namespace: 'shop', labels: { app: 'db' } } },
        port: 5432,
      }).admitted,
    ).toBe(true);
  });
});

describe('decide with NetworkPolicies', () => {
  it('is unreachable (status 0) when the request names a source pod the policies refuse', () => {
    const d = decideYaml(DENY_API, {
      source: { mtls: true, principal: 'cluster.local/ns/shop/sa/web', pod: WEB },
    });
    expect(d).toMatchObject({ outcome: 'unreachable', status: 0, policies: ['shop/deny-api'] });
  });

  it('checks no NetworkPolicy when the request names no source pod', () => {
    expect(decideYaml(DENY_API, {}).outcome).toBe('allow');
  });

  it('goes on to the mesh when the network admits the connection', () => {
    const strict = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
---
`;
    const d = decideYaml(DENY_API + ALLOW_WEB + strict, { source: { mtls: false, pod: WEB } });
    expect(d).toMatchObject({ outcome: 'reset', policies: ['shop/default'] });
  });
});
