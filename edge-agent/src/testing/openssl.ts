import { execFileSync } from 'node:child_process'

/**
 * Runs the openssl CLI in `cwd` for test certificates. node-opcua's PKI code
 * may leave OPENSSL_CONF set to the string "undefined" in this process, which
 * makes openssl fail to start; the child gets a clean value.
 */
export function openssl(cwd: string, ...args: string[]): void {
  const env = { ...process.env }
  if (!env.OPENSSL_CONF || env.OPENSSL_CONF === 'undefined') delete env.OPENSSL_CONF
  execFileSync('openssl', args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] })
}
