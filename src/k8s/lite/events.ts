import type { EventWriter } from '../events.js';
import type { LiteClient } from './client.js';

/** The EventRecorder's writes over the lite client (the speaker): the same paths, verbs and bodies as coreEventWriter. */
export function liteEventWriter(client: LiteClient): EventWriter {
  const events = (namespace: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
  return {
    create: (namespace, body) => client.create(events(namespace), body),
    mergePatch: (namespace, name, body) => client.mergePatch(`${events(namespace)}/${encodeURIComponent(name)}`, body),
  };
}
