import { ListWatch, makeInformer, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { ResilientInformerCore, type ResilientInformerOptions } from './informer-core.js';

export { type BackoffOptions, type ResilientInformerOptions } from './informer-core.js';

/**
 * ResilientInformerCore (./informer-core.ts) over client-node's informer, for the controller.
 * The speaker uses the core with the lite informer (src/k8s/lite/) and never loads this file.
 */
export class ResilientInformer<T extends KubernetesObject> extends ResilientInformerCore<T> {
  constructor(kubeConfig: KubeConfig | undefined, opts: ResilientInformerOptions<T>) {
    super(
      opts,
      kubeConfig === undefined
        ? undefined
        : (list) =>
            opts.slim !== undefined
              ? new ListWatch<T>(opts.path, new SlimmingWatch(kubeConfig, opts.slim), list, false, opts.labelSelector)
              : makeInformer<T>(kubeConfig, opts.path, list, opts.labelSelector),
    );
  }
}

/** client-node's Watch, handing the informer a slim copy of each object (as makeInformer, otherwise). */
class SlimmingWatch<T extends KubernetesObject> extends Watch {
  constructor(
    config: KubeConfig,
    private readonly slim: (obj: T) => T,
  ) {
    super(config);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      queryParams,
      (phase, obj: unknown) => {
        // ERROR carries a Status (410 Gone is read from it), BOOKMARK only a resourceVersion.
        const keep = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED';
        callback(phase, keep ? this.slim(obj as T) : obj);
      },
      done,
    );
  }
}
