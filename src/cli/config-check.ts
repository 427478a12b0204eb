import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { parseConfig, type ConfigInput } from '../config/parse.js';
import type { ConfigIssue, ConfigParseResult } from '../config/types.js';
import { FileError } from '../errors.js';

export type OutputFormat = 'text' | 'json';

/** Where config check reads and writes; the defaults are the process's streams. */
export interface ConfigCheckIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
}

const processIo: ConfigCheckIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

const CONFIG_FILE = /\.(ya?ml|json)$/i;

/** Exit codes of `l2vip config check`. */
export const CONFIG_CHECK_EXIT = { valid: 0, invalid: 1, unreadable: 2 } as const;

/** Reads FILE arguments as kubectl -f does: "-" is stdin, a directory gives its *.yaml, *.yml and *.json. */
async function readInputs(args: readonly string[], io: ConfigCheckIo): Promise<{ inputs: ConfigInput[]; files: string[] }> {
  const inputs: ConfigInput[] = [];
  const files: string[] = [];
  const read = async (file: string): Promise<void> => {
    try {
      inputs.push({ file, text: await readFile(file, 'utf8') });
      files.push(file);
    } catch (err) {
      throw new FileError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  for (const arg of args) {
    if (arg === '-') {
      inputs.push({ file: '<stdin>', text: await io.readStdin() });
      files.push('<stdin>');
      continue;
    }
    let isDir = false;
    try {
      isDir = (await stat(arg)).isDirectory();
    } catch (err) {
      throw new FileError(`cannot read ${arg}: ${(err as Error).message}`, { cause: err });
    }
    if (!isDir) {
      await read(arg);
      continue;
    }
    let names: string[];
    try {
      names = (await readdir(arg)).filter((n) => CONFIG_FILE.test(n)).sort();
    } catch (err) {
      throw new FileError(`cannot read directory ${arg}: ${(err as Error).message}`, { cause: err });
    }
    for (const name of names) await read(join(arg, name));
  }
  return { inputs, files };
}

/** One line: `[warning: ]FILE: KIND/NAME: PATH: MESSAGE [CODE]` (parts that do not apply are left out). */
export function formatIssue(issue: ConfigIssue): string {
  const parts: string[] = [issue.file ?? '(configuration)'];
  if (issue.object) parts.push(`${issue.object.kind}/${issue.object.name || '(no name)'}`);
  if (issue.path) parts.push(issue.path);
  parts.push(`${issue.message} [${issue.code}]`);
  return `${issue.severity === 'warning' ? 'warning: ' : ''}${parts.join(': ')}`;
}

function summary(result: ConfigParseResult, files: number): string {
  const n = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;
  const where = `in ${n(files, 'file')}`;
  if (!result.config) return `invalid: ${n(result.errors.length, 'error')}, ${n(result.warnings.length, 'warning')} ${where}`;
  return `valid: ${n(result.config.pools.length, 'IPAddressPool')}, ${n(result.config.l2Advertisements.length, 'L2Advertisement')}, ${n(result.warnings.length, 'warning')} ${where}`;
}

/** Runs the check; returns the exit code (0 valid, 1 invalid, 2 unreadable input). */
export async function runConfigCheck(args: readonly string[], format: OutputFormat, io: ConfigCheckIo = processIo): Promise<number> {
  let read: { inputs: ConfigInput[]; files: string[] };
  try {
    read = await readInputs(args, io);
  } catch (err) {
    if (err instanceof FileError) {
      io.stderr(`l2vip: ${err.message}\n`);
      return CONFIG_CHECK_EXIT.unreadable;
    }
    throw err;
  }
  const result = parseConfig(read.inputs);
  if (format === 'json') {
    io.stdout(
      `${JSON.stringify(
        {
          valid: result.config !== undefined,
          files: read.files,
          errors: result.errors,
          warnings: result.warnings,
          ...(result.config
            ? {
                pools: result.config.pools.map((p) => ({ name: p.name, cidrs: p.cidrStrings, l2Advertisements: p.l2Advertisements })),
                l2Advertisements: result.config.l2Advertisements.map((a) => ({ name: a.name, pools: a.pools })),
              }
            : {}),
        },
        null,
        2,
      )}\n`,
    );
  } else {
    for (const issue of [...result.errors, ...result.warnings]) io.stdout(`${formatIssue(issue)}\n`);
    io.stderr(`${summary(result, read.files.length)}\n`);
  }
  return result.config ? CONFIG_CHECK_EXIT.valid : CONFIG_CHECK_EXIT.invalid;
}

/** Adds `l2vip config check <files...> [--output text|json]` to `program`. */
export function registerConfigCheck(program: Command, io: ConfigCheckIo = processIo): Command {
  const config =
    program.commands.find((c) => c.name() === 'config') ??
    program.command('config').description('MetalLB-compatible configuration (IPAddressPool, L2Advertisement)');
  return config
    .command('check')
    .description(
      'validate IPAddressPool and L2Advertisement YAML: every error with file, object, field and fix; ' +
        'exit 0 when valid (warnings allowed), 1 when not, 2 when a file cannot be read',
    )
    .argument('<files...>', 'YAML or JSON files, directories (their *.yaml, *.yml, *.json), or - for stdin')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (files: string[], opts: { output: OutputFormat }) => {
      process.exitCode = await runConfigCheck(files, opts.output, io);
    });
}
