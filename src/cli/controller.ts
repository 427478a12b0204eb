import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Server } from 'node:http';
import type { Command } from 'commander';
// Types only here: the controller and client-node load when `l2vip controller` runs, not with
// every command (the speaker must not load client-node: docs/speaker.md).
import type { Controller } from '../controller/controller.js';
import { L2vipError, SocketError, UsageError } from '../errors.js';
import { componentNamespace } from '../k8s/component-namespace.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { startMetricsServer } from '../observability/metrics.js';
import { Signals } from './lifecycle.js';
import { LOG_LEVEL_HELP, parseIntOption, parseLogLevelOption } from './options.js';

export interface ControllerCliOptions {
  readonly kubeconfig?: string;
  readonly namespace?: string;
  readonly lbClass?: string;
  readonly metricsListen: string;
  readonly logLevel: string;
  readonly leaseDuration: number;
}

export interface RunningController {
  readonly controller: Controller;
  readonly server: Server;
  stop(): Promise<void>;
}

/**
 * Everything `l2vip controller` does before waiting for a signal: kubeconfig, controller,
 * metrics/health server. Tests call it in-process (with `identity`) to run the real code path.
 */
export async function startControllerProcess(
  opts: ControllerCliOptions,
  env: NodeJS.ProcessEnv = process.env,
  deps: { log?: Logger; identity?: string } = {},
): Promise<RunningController> {
  if (opts.leaseDuration < 1) throw new UsageError('--lease-duration must be at least 1 second');
  const log = deps.log ?? createLogger(opts.logLevel);
  const [{ Controller }, { loadKubeconfig }] = await Promise.all([import('../controller/controller.js'), import('../k8s/kubeconfig.js')]);
  const { kubeConfig, source, server: apiServer } = loadKubeconfig({ ...(opts.kubeconfig !== undefined ? { file: opts.kubeconfig } : {}), env });
  const namespace = componentNamespace(opts.namespace, env);
  // Pods have unique names; host names are not unique per process (hostNetwork, two replicas
  // on one machine), so like client-go add a random suffix to them.
  const identity =
    deps.identity ?? (env.POD_NAME !== undefined && env.POD_NAME !== '' ? env.POD_NAME : `${hostname()}_${randomBytes(4).toString('hex')}`);
  log.info({ kubeconfig: source, server: apiServer, namespace, identity, lbClass: opts.lbClass }, 'l2vip controller starting');
  const controller = new Controller({
    kubeConfig,
    namespace,
    identity,
    leaseDurationSeconds: opts.leaseDuration,
    log,
    ...(opts.lbClass !== undefined ? { loadBalancerClass: opts.lbClass } : {}),
  });
  let server: Server;
  try {
    server = await startMetricsServer(opts.metricsListen, controller.metrics.registry, log, {
      ready: () => (controller.ready ? [] : ['starting: the initial lists of Services, IPAddressPools and Namespaces are not synced, or no valid configuration is loaded yet']),
    });
  } catch (err) {
    if (err instanceof L2vipError) throw err;
    const errno = (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    throw new SocketError(`--metrics-listen ${opts.metricsListen}: cannot listen (${errno}): choose another address or port`, errno, { cause: err });
  }
  controller.start();
  return {
    controller,
    server,
    async stop() {
      await controller.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function registerController(program: Command): void {
  program
    .command('controller')
    .summary('allocate LoadBalancer IPs in a Kubernetes cluster (MetalLB-compatible)')
    .description(
      'Watch LoadBalancer Services, IPAddressPools and Namespaces; allocate IPs from the pools and write ' +
        'them to status.loadBalancer.ingress with the metallb.io/ip-allocated-from-pool annotation and ' +
        'Events. Several replicas may run: the one holding the Lease l2vip-controller allocates. ' +
        'Kubeconfig: --kubeconfig, else $KUBECONFIG, else in-cluster. See docs/controller.md.',
    )
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, else in-cluster)')
    .option('--namespace <ns>', 'namespace of the IPAddressPools and the Lease (default: $POD_NAMESPACE, else metallb-system)')
    .option('--lb-class <name>', 'handle only Services with this spec.loadBalancerClass (default: only Services without one)')
    .option('--metrics-listen <addr:port>', 'address for /metrics, /healthz and /readyz (":7472": every address)', ':7472')
    .option('--lease-duration <seconds>', 'leader Lease duration: a standby takes over about this long after the leader dies', parseIntOption, 15)
    .option('--log-level <level>', LOG_LEVEL_HELP, parseLogLevelOption, 'info')
    .action(async (opts: ControllerCliOptions) => {
      const log = createLogger(opts.logLevel);
      const signals = new Signals(log);
      try {
        const running = await startControllerProcess(opts, process.env, { log });
        await signals.requested;
        await running.stop();
        log.info('stopped');
      } finally {
        signals.dispose();
      }
    });
}
