import {
  compile,
  decide,
  type Decision,
  type EngineOptions,
  type MeshRequest,
  parseManifests,
} from '../../policies/engine/index.js';

export const GW = 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
export const ISS = 'https://auth.example.com/realms/shop';

/** Decides `req` against the YAML manifests `yaml`. */
export function decideYaml(
  yaml: string,
  req: Partial<MeshRequest>,
  options: EngineOptions = {},
): Decision {
  const compiled = compile({ objects: parseManifests(yaml, 'test.yaml') }, options);
  return decide(compiled, {
    destination: { namespace: 'shop', labels: { app: 'api' }, port: 8080 },
    source: { mtls: true, principal: 'cluster.local/ns/shop/sa/web' },
    method: 'GET',
    path: '/',
    ...req,
  });
}

/** One AuthorizationPolicy in namespace shop selecting app=api. */
export function ap(spec: string, name = 'p', extraMeta = ''): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: shop
${extraMeta}spec:
  selector:
    matchLabels: { app: api }
${spec}
---
`;
}

export const RA = `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: shop }
spec:
  jwtRules:
    - issuer: ${ISS}
      audiences: [shop-api]
---
`;

export function token(claims: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { claims: { iss: ISS, sub: 'u-1', aud: 'shop-api', ...claims }, ...extra };
}
