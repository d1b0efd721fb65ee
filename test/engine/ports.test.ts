import { parseManifests } from '../../policies/engine/index.js';
import { portProtocol } from '../../policies/engine/ports.js';

const manifests = {
  objects: parseManifests(
    `apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  selector: { app: api }
  ports:
    - { name: http-web, port: 80, targetPort: 8080 }
    - { name: redis, port: 6379 }
    - { name: metrics, port: 9090, targetPort: metrics, appProtocol: tcp }
    - { name: grpc, port: 9000, targetPort: 9000, appProtocol: grpc }
`,
    'svc.yaml',
  ),
};

describe('portProtocol', () => {
  const of = (port: number) =>
    portProtocol(manifests, 'shop', { app: 'api', version: 'v1' }, port, { 9091: 'metrics' });

  it.each([
    [8080, 'http'],
    [6379, 'tcp'],
    [9091, 'tcp'],
    [9000, 'http'],
    [7070, 'tcp'],
  ])('port %i is %s', (port, protocol) => {
    expect(of(port)).toBe(protocol);
  });

  it('ignores Services of other pods and namespaces', () => {
    expect(portProtocol(manifests, 'shop', { app: 'web' }, 8080)).toBe('tcp');
    expect(portProtocol(manifests, 'other', { app: 'api' }, 8080)).toBe('tcp');
  });
});
