import { loadDist, ref } from '../support/manifests.js';
import { SchemaValidator } from '../support/schema.js';

const validator = new SchemaValidator();
const objects = loadDist();

describe('every synthesized object matches its upstream schema', () => {
  test('dist/ is not empty', () => {
    expect(objects.length).toBeGreaterThan(10);
  });

  test.each(objects.map((o) => [ref(o), o] as const))('%s', (_name, obj) => {
    expect(validator.validate(obj)).toEqual([]);
  });
});

describe('the validator itself', () => {
  const deployment = objects.find((o) => o.kind === 'Deployment');
  const policy = objects.find((o) => o.kind === 'AuthorizationPolicy' && o.spec?.rules);

  test('rejects an unknown field in a Kubernetes object', () => {
    // GIVEN a Deployment whose container has a misspelled field
    const bad = structuredClone(deployment!) as any;
    bad.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
    // THEN the schema check names it
    expect(validator.validate(bad).join('\n')).toContain(
      "must NOT have additional properties 'imagePullPolicyy'",
    );
  });

  test('rejects a mistyped field in a Kubernetes object', () => {
    const bad = structuredClone(deployment!) as any;
    bad.spec.replicas = 'two';
    expect(validator.validate(bad).join('\n')).toContain('/spec/replicas: must be integer');
  });

  test('rejects an unknown field in an Istio object', () => {
    const bad = structuredClone(policy!) as any;
    bad.spec.rules[0].from[0].source.principal = ['x'];
    expect(validator.validate(bad).join('\n')).toContain("additional properties 'principal'");
  });

  test('rejects a value outside an Istio enum', () => {
    const bad = structuredClone(policy!) as any;
    bad.spec.action = 'PERMIT';
    expect(validator.validate(bad).join('\n')).toContain(
      '/spec/action: must be equal to one of the allowed values',
    );
  });

  test('throws for a kind without an upstream schema', () => {
    expect(() =>
      validator.validate({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }),
    ).toThrow('no upstream schema for example.com/v1/Widget');
  });
});
