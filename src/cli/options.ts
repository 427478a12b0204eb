import { InvalidArgumentError } from 'commander';

/** commander parser for a non-negative integer option. */
export function parseIntOption(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a non-negative integer');
  return Number(value);
}
