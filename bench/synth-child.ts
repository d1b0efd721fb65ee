/**
 * One synthesis, in its own process: `tsx bench/synth-child.ts <meshward|baseline> <services> <outdir>`.
 * Prints one JSON line: objects written, in-process synth milliseconds, peak RSS bytes.
 *   meshward  the generated system with full security (MeshSystem)
 *   baseline  the same number of bare cdk8s-plus Deployments + Services
 */
import { performance } from 'node:perf_hooks';

import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';

import { MeshSystem } from '../charts/lib/index.js';

import { generatedSystem } from './generated-system.js';

const [kind, count, outdir] = process.argv.slice(2);
const services = Number(count);
if ((kind !== 'meshward' && kind !== 'baseline') || !Number.isInteger(services) || !outdir) {
  console.error('usage: synth-child.ts <meshward|baseline> <services> <outdir>');
  process.exit(2);
}

const start = performance.now();
const app = new App({ outdir, outputFileExtension: '.yaml' });
if (kind === 'meshward') {
  new MeshSystem(app, 'bench', {
    intent: generatedSystem(services),
    disableResourceNameHashes: true,
  });
} else {
  const chart = new Chart(app, 'bench', { namespace: 'bench', disableResourceNameHashes: true });
  for (let i = 0; i < services; i++) {
    const name = `svc-${String(i).padStart(4, '0')}`;
    const deployment = new kplus.Deployment(chart, name, {
      metadata: { name },
      containers: [{ image: `bench/${name}:1`, portNumber: 8080 }],
    });
    deployment.exposeViaService({ name, ports: [{ port: 8080, targetPort: 8080 }] });
  }
}
app.synth();
const ms = performance.now() - start;
const objects = app.charts.reduce((n, c) => n + c.toJson().length, 0);
console.log(
  JSON.stringify({
    kind,
    services,
    objects,
    ms,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
