import {
  checkImage,
  compilePath,
  validateMethods,
  validateName,
  validatePort,
} from '../../charts/lib/index.js';

describe('compilePath', () => {
  test.each([
    ['/api/orders', '/api/orders'],
    ['/api/public/*', '/api/public/*'],
    ['/api/orders/{id}', '/api/orders/{*}'],
    ['/api/orders/{*}', '/api/orders/{*}'],
    ['/store/{**}', '/store/{**}'],
    ['/a/{x}/b/{y}', '/a/{*}/b/{*}'],
  ])('compiles %s to %s', (input, expected) => {
    expect(compilePath('route', input)).toBe(expected);
  });

  test.each([
    ['api/orders', "must start with '/'"],
    ['/admin*', "over-matches: '/admin*' also matches '/administrator'"],
    ['/a*b', "may contain '*' only at the end"],
    ['/*', 'matches every path'],
    ['/api//orders', "must not contain '//'"],
    ['/api/%2e%2e/admin', 'must not contain percent-encoding'],
    ['/api/../admin', "must not contain '.' or '..' segments"],
    ['/api/orders?x=1', 'must not contain a query'],
    ['/a/{**}/b', "'{**}' only as the last segment"],
    ['/a/{id}x', "invalid template segment '{id}x'"],
    ['/a\\b', "must not contain '\\'"],
  ])('throws when the path is %s', (input, message) => {
    expect(() => compilePath("MeshService 'x'", input)).toThrow(
      `MeshService 'x': path '${input}' `,
    );
    expect(() => compilePath("MeshService 'x'", input)).toThrow(message);
  });
});

describe('validateMethods', () => {
  test('accepts upper-case HTTP methods', () => {
    expect(validateMethods('r', ['GET', 'DELETE'])).toEqual(['GET', 'DELETE']);
  });
  test('throws when a method is lower case, naming the fix', () => {
    expect(() => validateMethods('r', ['get'])).toThrow(
      "method 'get' is not a valid HTTP method (Istio matches methods case-sensitively: write 'GET')",
    );
  });
  test('throws when a method is unknown', () => {
    expect(() => validateMethods('r', ['FETCH'])).toThrow(
      "method 'FETCH' is not a valid HTTP method (one of GET",
    );
  });
  test('throws when the list is empty', () => {
    expect(() => validateMethods('r', [])).toThrow("'methods' is empty");
  });
});

describe('validateName and validatePort', () => {
  test.each(['Orders', 'orders_service', '-orders', 'a'.repeat(64), ''])(
    'throws when the name is %j',
    (name) => {
      expect(() => validateName('MeshService', 'name', name)).toThrow(
        `'name' ('${name}') must be a DNS-1123 label`,
      );
    },
  );
  test.each([0, 70000, 1.5, -1])('throws when the port is %d', (port) => {
    expect(() => validatePort('MeshService', 'port', port)).toThrow(
      `'port' (${port}) must be an integer in 1-65535`,
    );
  });
  test('accepts the edges', () => {
    expect(validatePort('s', 'port', 1)).toBe(1);
    expect(validatePort('s', 'port', 65535)).toBe(65535);
    expect(validateName('s', 'name', 'a'.repeat(63))).toHaveLength(63);
  });
});

describe('checkImage (every workload and Keycloak)', () => {
  const digest = `@sha256:${'a'.repeat(64)}`;

  test.each([
    'redis:7.4.5-alpine',
    'docker.io/library/redis:7.4.5-alpine',
    'registry.example:5000/team/api:1.2.3',
    `registry.example:5000/team/api${digest}`,
    `api:1.2.3${digest}`,
  ])('accepts %s', (image) => {
    expect(() => {
      checkImage("MeshService 'x'", 'image', image);
    }).not.toThrow();
  });

  test.each([
    ['api', 'not untagged'],
    ['api:latest', 'not latest'],
    ['registry.example:5000/api', 'not untagged'],
    ['api:1 ', 'is not an image reference'],
    ['api@sha256:abc', 'is not an image reference'],
    ['', 'is not an image reference'],
  ])('refuses %j (%s), naming the construct and the value', (image, message) => {
    expect(() => {
      checkImage("MeshService 'x'", 'image', image);
    }).toThrow(`MeshService 'x': 'image' ('${image}')`);
    expect(() => {
      checkImage("MeshService 'x'", 'image', image);
    }).toThrow(message);
  });
});
