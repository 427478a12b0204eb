/** `--namespace`, else $POD_NAMESPACE (the downward API), else MetalLB's `metallb-system`. */
export function componentNamespace(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return flag;
  return env.POD_NAMESPACE !== undefined && env.POD_NAMESPACE !== '' ? env.POD_NAMESPACE : 'metallb-system';
}
