import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { parseSelectorText } from '../config/selector-text.js';
import { componentNamespace } from '../k8s/component-namespace.js';
import { createLogger, type Logger } from '../observability/logger.js';
import type { KubernetesSpeaker } from '../speaker/kubernetes-speaker.js';
import { Signals } from './lifecycle.js';
import { LOG_LEVEL_HELP, parseLogLevelOption } from './options.js';
import { requireNetworkPrivileges } from './privileges.js';
import { jitOption } from './jit.js';

export const DEFAULT_PEER_SELECTOR = 'app.kubernetes.io/name=l2vip,app.kubernetes.io/component=speaker';

export interface SpeakerCliOptions {
  readonly nodeName?: string;
  readonly kubeconfig?: string;
  readonly namespace?: string;
  readonly bind?: string;
  readonly secretFile?: string;
  readonly peerSelector: string;
  readonly localDelivery: boolean;
  readonly lbClass?: string;
  readonly ignoreExcludeLb: boolean;
  readonly virtualMac?: boolean;
  readonly metricsListen: string;
  readonly logLevel: string;
}

/**
 * Everything `l2vip speaker` does before waiting for a signal. Tests call it in-process (inside
 * a node's network namespace they spawn the CLI instead) to run the real code path.
 */
export async function startSpeakerProcess(opts: SpeakerCliOptions, env: NodeJS.ProcessEnv = process.env, deps: { log?: Logger } = {}): Promise<KubernetesSpeaker> {
  const nodeName = opts.nodeName ?? env.NODE_NAME;
  if (nodeName === undefined || nodeName === '') throw new UsageError('--node-name is required (or set $NODE_NAME, e.g. from the downward API spec.nodeName)');
  if (opts.secretFile === undefined || opts.secretFile === '') throw new UsageError('--secret-file is required: the membership key (32 bytes or more), mounted from a Secret');
  const selector = parseSelectorText(opts.peerSelector);
  if (!selector.ok) throw new UsageError(`--peer-selector: ${selector.message}`);
  requireNetworkPrivileges('l2vip speaker', opts.localDelivery);
  const log = deps.log ?? createLogger(opts.logLevel);
  // Loaded here, not with the CLI (standalone and announce need none of it); and not client-node:
  // its generated API modules cost ~77 MB in every speaker (src/k8s/lite/).
  const [{ LiteClient }, { loadLiteKubeconfig }, { KubernetesSpeaker }] = await Promise.all([
    import('../k8s/lite/client.js'),
    import('../k8s/lite/config.js'),
    import('../speaker/kubernetes-speaker.js'),
  ]);
  const { connection, source, server, fallback } = await loadLiteKubeconfig({ ...(opts.kubeconfig !== undefined ? { file: opts.kubeconfig } : {}), env });
  const namespace = componentNamespace(opts.namespace, env);
  log.info({ kubeconfig: source, server, namespace, node: nodeName, lbClass: opts.lbClass, ...(fallback !== undefined ? { auth: `client-node (${fallback})` } : {}) }, 'l2vip speaker starting');
  const speaker = new KubernetesSpeaker({
    client: new LiteClient(connection),
    nodeName,
    namespace,
    bind: opts.bind,
    secretFile: opts.secretFile,
    peerSelector: selector.selector,
    peerSelectorText: opts.peerSelector,
    localDelivery: opts.localDelivery,
    loadBalancerClass: opts.lbClass,
    ignoreExcludeLb: opts.ignoreExcludeLb,
    virtualMac: opts.virtualMac ?? false,
    metricsListen: opts.metricsListen,
    podName: env.POD_NAME,
    log,
  });
  await speaker.start();
  return speaker;
}

export function registerSpeaker(program: Command): void {
  program
    .command('speaker')
    .summary('announce LoadBalancer IPs from this Kubernetes node (MetalLB L2 compatible)')
    .description(
      'Run on every node (DaemonSet, hostNetwork): watch Services, EndpointSlices, Nodes and MetalLB\'s ' +
        'IPAddressPools / L2Advertisements; elect one node per Service with MetalLB\'s hash among the live ' +
        'speakers (l2vip\'s own authenticated membership, not the API server); answer ARP/NDP and send ' +
        'gratuitous announcements; write ServiceL2Status objects and Events. SIGTERM hands the VIPs over ' +
        'first. Needs CAP_NET_RAW and CAP_NET_ADMIN. See docs/speaker.md and docs/kubernetes.md.',
    )
    .option('--node-name <name>', 'this node\'s name (default: $NODE_NAME)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, else in-cluster)')
    .option('--namespace <ns>', 'namespace of the IPAddressPools, L2Advertisements, ServiceL2Statuses and speaker pods (default: $POD_NAMESPACE, else metallb-system)')
    .option('--bind <addr:port>', 'membership address (default: the node\'s InternalIP, port 7946)')
    .option('--secret-file <file>', 'membership key, 32 bytes or more (mounted from a Secret)')
    .option('--peer-selector <selector>', 'label selector of the speaker pods (the peers)', DEFAULT_PEER_SELECTOR)
    .option('--local-delivery', 'make this host accept the VIPs\' traffic itself (off: kube-proxy does)', false)
    .option('--lb-class <name>', 'handle only Services with this spec.loadBalancerClass (default: only Services without one)')
    .option('--ignore-exclude-lb', 'announce from nodes labelled node.kubernetes.io/exclude-from-external-load-balancers too', false)
    .option('--virtual-mac', 'give every Service a virtual MAC derived from namespace/name, unless annotated l2vip.io/virtual-mac: "false" (docs/virtual-mac.md)', false)
    .option('--metrics-listen <addr:port>', 'address for /metrics, /healthz and /readyz (":7472": every address)', ':7472')
    .option('--log-level <level>', LOG_LEVEL_HELP, parseLogLevelOption, 'info')
    .addOption(jitOption())
    .action(async (opts: SpeakerCliOptions) => {
      const log = createLogger(opts.logLevel);
      const signals = new Signals(log);
      try {
        const speaker = await startSpeakerProcess(opts, process.env, { log });
        await signals.requested;
        await speaker.stop();
        log.info('stopped');
      } finally {
        signals.dispose();
      }
    });
}
