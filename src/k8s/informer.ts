import { makeInformer, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { ResilientInformerCore, type ResilientInformerOptions } from './informer-core.js';

export { type BackoffOptions, type ResilientInformerOptions } from './informer-core.js';

/**
 * ResilientInformerCore (./informer-core.ts) over client-node's informer, for the controller.
 * The speaker uses the core with the lite informer (src/k8s/lite/) and never loads this file.
 * Slim copies (`slim`) are the lite informer's: this one keeps whole objects and refuses it.
 */
export class ResilientInformer<T extends KubernetesObject> extends ResilientInformerCore<T> {
  constructor(kubeConfig: KubeConfig | undefined, opts: ResilientInformerOptions<T>) {
    if (opts.slim !== undefined && opts.make === undefined) throw new TypeError(`informer ${opts.name}: slim copies need the lite informer (liteInformerOptions in src/k8s/lite/informer.ts)`);
    super(opts, kubeConfig === undefined ? undefined : (list) => makeInformer<T>(kubeConfig, opts.path, list, opts.labelSelector));
  }
}
