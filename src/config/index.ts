// Entry point for lvs-keepalived and tools: load a keepalived.conf or YAML
// file into the model. User mistakes never throw; they come back as
// diagnostics with file:line:col and what to do.

import { parseConfigFile } from './parser.js';
import { parseYamlConfigFile } from './yaml.js';
import { checkHost, type HostOptions } from './check-host.js';
import { KA_ERR, type Diagnostic, type KeepalivedConfig } from './model.js';

export * from './model.js';
export { parseConfigFile, parseConfigText, refusedInstances } from './parser.js';
export { parseYamlConfig, parseYamlConfigFile, dumpConfig, toKeepalivedConf } from './yaml.js';
export { checkHost, type HostOptions } from './check-host.js';

export interface LoadOptions {
  /** keepalived's -i/--config-id, for `@id` lines. */
  configId?: string;
  /** Read the file as YAML (default: by extension .yaml/.yml/.json). */
  format?: 'keepalived' | 'yaml';
  /** Also run the host checks `keepalived -t` does (interfaces, scripts, script security). */
  host?: boolean | HostOptions;
}

export interface LoadResult {
  model: KeepalivedConfig;
  diagnostics: Diagnostic[];
}

export function loadConfig(path: string, opts: LoadOptions = {}): LoadResult {
  const yaml = opts.format ? opts.format === 'yaml' : /\.(ya?ml|json)$/i.test(path);
  const r = yaml ? parseYamlConfigFile(path) : parseConfigFile(path, opts.configId !== undefined ? { configId: opts.configId } : {});
  if (opts.host) r.diagnostics.push(...checkHost(r.model, opts.host === true ? {} : opts.host));
  return r;
}

/** `keepalived -t`: load with host checks and give the exit status keepalived would. */
export function configTest(path: string, opts: Omit<LoadOptions, 'host'> & { host?: HostOptions } = {}): LoadResult & { exitCode: number } {
  const r = loadConfig(path, { ...opts, host: opts.host ?? true });
  return { ...r, exitCode: configTestExitCode(r.diagnostics) };
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message} — ${d.hint}`;
}

/**
 * The exit status `keepalived -t` would give for these diagnostics
 * (keepalived 2.2.7 config_test_exit(): the highest config_err_t wins):
 * 0 clean, 4 cannot run, 5 errors it would run through, 6 script security;
 * 2 when keepalived stopped reading at a keyword without its parameter.
 */
export function configTestExitCode(diags: readonly Diagnostic[]): number {
  let worst = 0;
  for (const d of diags) worst = Math.max(worst, KA_ERR.indexOf(d.ka));
  const err = KA_ERR[worst]!;
  if (err === 'OK') return 0;
  if (err === 'EXIT_CONFIG') return 2;
  if (err === 'FILE_NOT_FOUND' || err === 'BAD_IF' || err === 'FATAL') return 4;
  if (err === 'SECURITY_ERROR') return 6;
  return 5;
}
