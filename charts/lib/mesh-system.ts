import { Chart, type ChartProps } from 'cdk8s';
import type { Construct } from 'constructs';

import type { IMeshIdentity } from './identity.js';
import type { SystemIntent } from './intent.js';
import { JwtIssuer } from './jwt-issuer.js';
import { MeshCronJob } from './mesh-cron-job.js';
import { MeshNamespace } from './mesh-namespace.js';
import { MeshService } from './mesh-service.js';

export interface MeshSystemProps extends ChartProps {
  readonly intent: SystemIntent;
}

/**
 * A whole system compiled from its intent: one mesh namespace, the issuer bound to
 * it, every service and job with its identity, and each route's callers resolved to
 * those identities. Unknown callers and duplicate names are synth-time errors.
 */
export class MeshSystem extends Chart {
  public readonly meshNamespace: MeshNamespace;
  public readonly issuer?: JwtIssuer;
  public readonly services = new Map<string, MeshService>();
  public readonly jobs = new Map<string, MeshCronJob>();

  constructor(scope: Construct, id: string, props: MeshSystemProps) {
    super(scope, id, props);
    const { intent } = props;
    this.meshNamespace = new MeshNamespace(this, 'Namespace', { name: intent.namespace });
    if (intent.issuer) {
      this.issuer = new JwtIssuer(this, 'Issuer', intent.issuer);
      this.issuer.bindTo(intent.namespace, { name: 'jwt' });
    }

    const identities = new Map<string, IMeshIdentity>();
    const claim = (name: string, kind: string): void => {
      if (identities.has(name) || this.services.has(name)) {
        throw new Error(`system '${intent.namespace}': ${kind} name '${name}' is declared twice`);
      }
    };
    for (const s of intent.services) {
      claim(s.name, 'service');
      const service = new MeshService(this, s.name, {
        ...s,
        namespace: intent.namespace,
        issuer: this.issuer,
      });
      this.services.set(s.name, service);
      identities.set(s.name, service);
    }
    for (const j of intent.jobs ?? []) {
      claim(j.name, 'job');
      const job = new MeshCronJob(this, j.name, { ...j, namespace: intent.namespace });
      this.jobs.set(j.name, job);
      identities.set(j.name, job);
    }

    for (const s of intent.services) {
      const service = this.services.get(s.name);
      if (!service) continue;
      for (const route of s.routes) {
        const callers = (route.callers ?? []).map((name) => {
          const identity = identities.get(name);
          if (!identity) {
            const known = [...identities.keys()].join(', ');
            throw new Error(
              `service '${s.name}' route ${route.paths.join(', ')}: caller '${name}' is not a service or job of the system (known: ${known})`,
            );
          }
          return identity;
        });
        service.addRoute(route, callers);
      }
    }
  }
}
