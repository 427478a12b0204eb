import type { EventApi, EventWriter } from './events.js';
import { mergePatch } from './patch.js';

/** The EventRecorder's writes over client-node's CoreV1Api (the controller). */
export function coreEventWriter(api: EventApi): EventWriter {
  return {
    create: (namespace, body) => api.createNamespacedEvent({ namespace, body }),
    mergePatch: (namespace, name, body) => api.patchNamespacedEvent({ name, namespace, body }, mergePatch()),
  };
}
