import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { type EgressOptions, validateEgress, WorkloadEgress } from './egress.js';
import { type IMeshIdentity, principalOf } from './identity.js';
import { validateName } from './validation.js';
import {
  DEFAULT_USER_ID,
  type EnvValue,
  hardenedPodSpec,
  type WorkloadResources,
} from './workload.js';

export interface MeshCronJobProps extends WorkloadResources {
  readonly namespace: string;
  /** CronJob, ServiceAccount and `app` label. @default - the construct id */
  readonly name?: string;
  readonly image: string;
  /** Cron schedule, five fields, e.g. `*\/15 * * * *`. */
  readonly schedule: string;
  /** @default - none */
  readonly env?: Readonly<Record<string, EnvValue>>;
  /** Seconds a run may take before it is stopped. @default 300 */
  readonly activeDeadlineSeconds?: number;
  /** @default 10001 */
  readonly userId?: number;
  /** What the job's proxy may reach. @default - only what it calls (EgressOptions) */
  readonly egress?: EgressOptions;
}

/**
 * A scheduled job in the mesh that calls services and serves nothing: its own
 * ServiceAccount (its mesh identity) and a hardened CronJob. The pod's sidecar is
 * told to exit when the job's container does (`sidecar.istio.io/...` native sidecar
 * annotation), so runs complete.
 */
export class MeshCronJob extends Construct implements IMeshIdentity {
  public readonly identityName: string;
  public readonly namespace: string;
  public readonly serviceAccountName: string;
  public readonly principal: string;
  public readonly cronJob: k8s.KubeCronJob;
  /** The job's Istio `Sidecar` (egress to its callees only), unless `egress.scoped` is false. */
  public readonly egress: WorkloadEgress;

  constructor(scope: Construct, id: string, props: MeshCronJobProps) {
    super(scope, id);
    const name = props.name ?? id;
    const owner = `MeshCronJob '${name}'`;
    this.identityName = validateName(owner, 'name', name);
    this.namespace = validateName(owner, 'namespace', props.namespace);
    this.serviceAccountName = name;
    this.principal = principalOf(this.namespace, name);
    if (props.schedule.trim().split(/\s+/).length !== 5) {
      throw new Error(`${owner}: 'schedule' ('${props.schedule}') must have five cron fields`);
    }
    const deadline = props.activeDeadlineSeconds ?? 300;
    if (!Number.isInteger(deadline) || deadline < 1) {
      throw new Error(`${owner}: 'activeDeadlineSeconds' (${deadline}) must be a positive integer`);
    }
    const metadata = {
      name,
      namespace: this.namespace,
      labels: {
        app: name,
        'app.kubernetes.io/name': name,
        'app.kubernetes.io/managed-by': 'meshward',
      },
    };

    const serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata,
      automountServiceAccountToken: false,
    });
    this.cronJob = new k8s.KubeCronJob(this, 'Resource', {
      metadata,
      spec: {
        schedule: props.schedule,
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          spec: {
            backoffLimit: 2,
            activeDeadlineSeconds: deadline,
            template: {
              metadata: {
                labels: { app: name, version: 'v1' },
                // Istio's native-sidecar mode lets the pod finish when the job's container exits.
                annotations: { 'sidecar.istio.io/nativeSidecar': 'true' },
              },
              spec: hardenedPodSpec(
                name,
                {
                  name,
                  image: props.image,
                  env: props.env ?? {},
                  resources: props,
                  userId: props.userId ?? DEFAULT_USER_ID,
                },
                { restartPolicy: 'Never' },
              ),
            },
          },
        },
      },
    });
    ApiObject.of(this.cronJob).addDependency(serviceAccount);
    this.egress = new WorkloadEgress(this, 'Egress', {
      namespace: this.namespace,
      name,
      workload: this.cronJob,
      options: validateEgress(owner, props.egress),
    });
  }
}
