import { ApiObject } from 'cdk8s';
import { Construct, type IConstruct } from 'constructs';

import {
  CALL_GRAPH_KINDS,
  type CallGraph,
  type CallGraphObject,
  callGraph,
  podIdentityOf,
  type PodIdentity,
} from '../../contract/egress.js';
import {
  Sidecar,
  type SidecarSpec,
  SidecarSpecOutboundTrafficPolicyMode,
} from '../imports/networking.istio.io.js';

import { lazy } from './lazy.js';

/** What a workload's proxy may reach (egress least privilege). */
export interface EgressOptions {
  /**
   * Render an Istio `Sidecar` whose egress lists only what the workload calls: the Services
   * whose ALLOW policies name its identity, its issuer's JWKS host, `istio-system`, and
   * `hosts`. Every other host is invisible to its proxy: a compromised pod cannot reach what
   * its intent does not name, and its proxy carries the config of its callees only, not of
   * the whole mesh. `false` leaves the proxy seeing every Service (Istio's default).
   * @default true
   */
  readonly scoped?: boolean;
  /**
   * What the proxy does with a destination outside its egress: `REGISTRY_ONLY` refuses it
   * (502 for HTTP, the connection closed otherwise); `ALLOW_ANY` passes it through without
   * mTLS (which a STRICT destination then refuses). @default 'REGISTRY_ONLY'
   */
  readonly outboundTrafficPolicy?: 'REGISTRY_ONLY' | 'ALLOW_ANY';
  /**
   * More egress hosts, as Sidecar spells them: `namespace/host`, e.g. `payments/api.psp.example`
   * for a ServiceEntry. @default - none
   */
  readonly hosts?: readonly string[];
}

/** The hosts every proxy keeps: istiod and the gateways (Istio's own guidance). */
export const ISTIO_SYSTEM_EGRESS = 'istio-system/*';

const NAMESPACE_PART = /^(\*|\.|~|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/;
const HOST_PART = /^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;

/** The egress options, checked; errors name the owner, the field and the value. @internal */
export function validateEgress(owner: string, options: EgressOptions = {}): EgressOptions {
  // Typed props, but JavaScript and JSON callers reach here too.
  const mode: unknown = options.outboundTrafficPolicy;
  if (mode !== undefined && mode !== 'REGISTRY_ONLY' && mode !== 'ALLOW_ANY') {
    throw new Error(
      `${owner}: 'egress.outboundTrafficPolicy' (${JSON.stringify(mode)}) must be 'REGISTRY_ONLY' or 'ALLOW_ANY'`,
    );
  }
  for (const host of options.hosts ?? []) {
    const parts = host.split('/');
    const [ns, name] = parts;
    if (parts.length !== 2 || !NAMESPACE_PART.test(ns) || !HOST_PART.test(name)) {
      throw new Error(
        `${owner}: 'egress.hosts' entry '${host}' must be 'namespace/host' ('*', '.' or a namespace; a DNS name, '*.suffix' or '*')`,
      );
    }
    if (name === '*' && ns === '*') {
      throw new Error(
        `${owner}: 'egress.hosts' entry '*/*' opens the proxy to every host: set 'egress.scoped: false' to mean that`,
      );
    }
  }
  if (options.scoped === false && (options.hosts?.length ?? 0) > 0) {
    throw new Error(
      `${owner}: 'egress.hosts' given with 'egress.scoped: false': they would do nothing`,
    );
  }
  return options;
}

/**
 * The Istio `Sidecar` of one workload: egress to what it calls, read at synth time from the
 * rendered app (contract/egress.ts), so callers declared anywhere — a route's `callers`, a
 * Keycloak token client, a hand-made AuthorizationPolicy — count. Selects the workload's pods
 * by its `app` label. @internal
 */
export class WorkloadEgress extends Construct {
  public readonly sidecar?: Sidecar;

  constructor(
    scope: Construct,
    id: string,
    props: {
      readonly namespace: string;
      readonly name: string;
      /** The workload whose pod template the Sidecar is for. */
      readonly workload: ApiObject;
      readonly options: EgressOptions;
    },
  ) {
    super(scope, id);
    const { options, workload } = props;
    if (options.scoped === false) return;
    this.sidecar = new Sidecar(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: { app: props.name } },
      spec: lazy((): SidecarSpec => {
        const { graph, pods } = callGraphOf(this);
        const pod = pods.get(workload);
        const callees = pod ? graph.calleesOf(pod) : [];
        const hosts = [...new Set([ISTIO_SYSTEM_EGRESS, ...callees, ...(options.hosts ?? [])])];
        return {
          workloadSelector: { labels: { app: props.name } },
          egress: [{ hosts: hosts.sort() }],
          outboundTrafficPolicy: {
            mode:
              options.outboundTrafficPolicy === 'ALLOW_ANY'
                ? SidecarSpecOutboundTrafficPolicyMode.ALLOW_UNDERSCORE_ANY
                : SidecarSpecOutboundTrafficPolicyMode.REGISTRY_UNDERSCORE_ONLY,
          },
        };
      }),
    });
  }
}

interface AppCallGraph {
  readonly graph: CallGraph;
  /** The pod identity of every rendered workload object. */
  readonly pods: ReadonlyMap<ApiObject, PodIdentity>;
}

const graphs = new WeakMap<IConstruct, AppCallGraph>();

/**
 * The app's call graph, rendered once per app at synth time (the first Sidecar that asks),
 * when every construct is in place. Sidecars are not read, so their lazy values do not recurse.
 */
function callGraphOf(scope: IConstruct): AppCallGraph {
  const root = scope.node.root;
  let found = graphs.get(root);
  if (found === undefined) {
    const rendered = root.node
      .findAll()
      .filter((c): c is ApiObject => c instanceof ApiObject && CALL_GRAPH_KINDS.includes(c.kind))
      .map((o) => ({ object: o, json: o.toJson() as CallGraphObject }));
    const pods = new Map<ApiObject, PodIdentity>();
    for (const { object, json } of rendered) {
      const pod = podIdentityOf(json);
      if (pod) pods.set(object, pod);
    }
    found = { graph: callGraph(rendered.map((r) => r.json)), pods };
    graphs.set(root, found);
  }
  return found;
}
