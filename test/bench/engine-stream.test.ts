import { join } from 'node:path';

import { requestStream } from '../../bench/engine.bench.js';
import { compile, decide, loadManifests } from '../../policies/engine/index.js';
import { workloadsOf } from '../../policies/engine/workloads.js';

const FIXTURE = join(process.cwd(), 'test/engine/fixtures/shop.yaml');

describe('requestStream (engine benchmark)', () => {
  const manifests = loadManifests([FIXTURE]);
  const stream = requestStream(manifests);

  it('sends requests to every workload', () => {
    const names = new Set(stream.map((r) => JSON.stringify(r.destination.labels)));
    expect(names.size).toBe(workloadsOf(manifests).length);
  });

  it('is mixed: allowed, denied, unauthenticated and reset requests', () => {
    // GIVEN the stream decided by the engine
    const compiled = compile(manifests);
    const outcomes = new Set(stream.map((r) => decide(compiled, r).outcome));
    // THEN every main outcome is exercised, so the rate is not one fast path's
    expect([...outcomes].sort()).toEqual(
      expect.arrayContaining(['allow', 'deny', 'reset', 'unauthenticated']),
    );
  });

  it('gives each request its own labels object', () => {
    const labels = new Set(stream.map((r) => r.destination.labels));
    expect(labels.size).toBe(stream.length);
  });
});
