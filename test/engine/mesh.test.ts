import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  INSTALLED_MESH,
  ISTIO_DEFAULT_MESH,
  ISTIO_SEMANTICS,
  meshSettingsOf,
  readMeshSettings,
} from '../../policies/engine/mesh.js';

const root = process.cwd();

describe('mesh settings', () => {
  it('GIVEN the mesh the project installs WHEN read THEN it is the engine default', () => {
    expect(readMeshSettings(join(root, 'scripts/istio/mesh.yaml'))).toEqual(INSTALLED_MESH);
  });

  it('names the Istio module the integration tier pins', () => {
    const env = readFileSync(join(root, 'scripts/versions.env'), 'utf8');
    const pinned = /^ISTIO_VERSION=(\S+)$/m.exec(env)?.at(1);
    expect(ISTIO_SEMANTICS.module).toBe(`istio.io/istio@${pinned ?? '?'}`);
  });

  it('reads a bare MeshConfig, unset fields at Istio defaults', () => {
    const m = meshSettingsOf('trustDomain: corp.example\ntrustDomainAliases: [old]\n', 'm.yaml');
    expect(m).toEqual({
      outboundTrafficPolicy: 'ALLOW_ANY',
      pathNormalization: 'BASE',
      trustDomain: 'corp.example',
      trustDomainAliases: ['old'],
      jwksFetch: 'istiod',
    });
    expect(meshSettingsOf('', 'empty.yaml')).toEqual(ISTIO_DEFAULT_MESH);
  });

  it.each([
    ['envoy', 'envoy'],
    ['hybrid', 'hybrid'],
    ['true', 'hybrid'],
    ['false', 'istiod'],
    ['istiod', 'istiod'],
    ['Envoy', 'istiod'],
    [undefined, 'istiod'],
  ])(
    "GIVEN an IstioOperator with PILOT_JWT_ENABLE_REMOTE_JWKS=%s THEN the JWKS fetcher is %s, as istiod's ConvertToJwksFetchMode reads it",
    (value, fetch) => {
      const env = value === undefined ? '{}' : `{ PILOT_JWT_ENABLE_REMOTE_JWKS: '${value}' }`;
      const text = `kind: IstioOperator\nspec:\n  values: { pilot: { env: ${env} } }\n`;
      expect(meshSettingsOf(text, 'op.yaml').jwksFetch).toBe(fetch);
    },
  );

  it.each([
    ['pathNormalization: { normalization: DECODE }', '"DECODE" is not one of BASE'],
    ['trustDomain: 7', 'trustDomain must be a non-empty string, got 7'],
    ['trustDomainAliases: a', 'trustDomainAliases must be a list of strings'],
    ['a: [', 'm.yaml: not YAML'],
    [
      'kind: IstioOperator\nspec: { values: { pilot: { env: { PILOT_JWT_ENABLE_REMOTE_JWKS: [envoy] } } } }',
      'values.pilot.env.PILOT_JWT_ENABLE_REMOTE_JWKS must be a string, got ["envoy"]',
    ],
  ])('refuses %s naming the field', (text, message) => {
    expect(() => meshSettingsOf(text, 'm.yaml')).toThrow(message);
  });

  it('reads outboundTrafficPolicy.mode, and refuses a value istiod does not know', () => {
    expect(
      meshSettingsOf('outboundTrafficPolicy: { mode: REGISTRY_ONLY }\n', 'm.yaml')
        .outboundTrafficPolicy,
    ).toBe('REGISTRY_ONLY');
    expect(() => meshSettingsOf('outboundTrafficPolicy: { mode: registry }\n', 'm.yaml')).toThrow(
      'm.yaml: outboundTrafficPolicy.mode must be ALLOW_ANY or REGISTRY_ONLY, got "registry"',
    );
  });

  it('names a missing file', () => {
    expect(() => readMeshSettings('/nonexistent/mesh.yaml')).toThrow(
      "--mesh-config '/nonexistent/mesh.yaml'",
    );
  });
});
