import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GridlineError } from '@gridline/core'
import { DEVICE_ID_PATTERN } from '@gridline/schemas'

/**
 * A development PKI for MQTT over TLS (`gridline certs`, the demo and the
 * tests), made with the openssl CLI: a CA, a server certificate and device
 * certificates, EC P-256 keys (generated in milliseconds). Not for production:
 * the CA key sits unencrypted beside its certificate.
 *
 * Files in `dir`: ca.pem / ca.key, server.pem / server.key, and
 * devices/<id>.pem / devices/<id>.key.
 */
export interface DevCertPaths {
  caFile: string
  certFile: string
  keyFile: string
}

function openssl(cwd: string, ...args: string[]): void {
  // node-opcua may leave OPENSSL_CONF set to the string "undefined", which stops openssl from starting.
  const env = { ...process.env }
  if (!env.OPENSSL_CONF || env.OPENSSL_CONF === 'undefined') delete env.OPENSSL_CONF
  try {
    execFileSync('openssl', args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim()
    throw new GridlineError('GRIDLINE_USAGE', `openssl ${args[0]} failed${stderr ? `: ${stderr}` : ''} (is the openssl CLI installed?)`, { cause: err })
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** Makes ca.pem and ca.key in `dir` unless they exist (or `replace`). */
export function makeDevCa(dir: string, options: { days?: number; name?: string; replace?: boolean } = {}): { caFile: string; caKeyFile: string } {
  mkdirSync(dir, { recursive: true })
  const caFile = join(dir, 'ca.pem')
  const caKeyFile = join(dir, 'ca.key')
  if (options.replace || !existsSync(caFile) || !existsSync(caKeyFile)) {
    openssl(dir, 'req', '-x509', ...EC, '-days', String(options.days ?? 3650), '-subj', `/CN=${options.name ?? 'gridline development CA'}`,
      '-keyout', 'ca.key', '-out', 'ca.pem',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  }
  return { caFile, caKeyFile }
}

/**
 * Signs a leaf certificate with the CA in `dir`. `days` may be negative: the
 * certificate is then already expired (openssl sets notAfter in the past).
 */
function signLeaf(dir: string, name: string, subject: string, extensions: string, days: number): { certFile: string; keyFile: string } {
  const { caFile } = makeDevCa(dir)
  const ext = `${name}.ext`
  writeFileSync(join(dir, ext), extensions)
  try {
    openssl(dir, 'req', ...EC, '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`)
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', caFile, '-CAkey', 'ca.key', '-CAcreateserial', '-days', String(days), '-extfile', ext, '-out', `${name}.pem`)
  } finally {
    rmSync(join(dir, ext), { force: true })
    rmSync(join(dir, `${name}.csr`), { force: true })
  }
  return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) }
}

/** The server certificate: SANs localhost, 127.0.0.1 and every `hosts` entry (DNS name or IP address). */
export function makeDevServerCert(dir: string, options: { hosts?: string[]; days?: number } = {}): DevCertPaths {
  const hosts = ['localhost', '127.0.0.1', ...(options.hosts ?? [])]
  const sans = [...new Set(hosts)].map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',')
  const leaf = signLeaf(dir, 'server', '/CN=gridline ingest', `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`, options.days ?? 825)
  return { caFile: join(dir, 'ca.pem'), ...leaf }
}

/**
 * A device's client certificate: CN = the device id, and the SAN
 * `URI:urn:gridline:device:<id>`; the service accepts either (docs/protocol.md#connecting-over-tls).
 */
export function makeDevDeviceCert(dir: string, deviceId: string, options: { days?: number } = {}): DevCertPaths {
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new GridlineError('GRIDLINE_USAGE', `Device id "${deviceId}" must match ${DEVICE_ID_PATTERN.source}.`)
  const devices = join(dir, 'devices')
  mkdirSync(devices, { recursive: true })
  makeDevCa(dir)
  const leaf = signLeaf(dir, `devices/${deviceId}`, `/CN=${deviceId}`, `subjectAltName=URI:urn:gridline:device:${deviceId}\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n`, options.days ?? 825)
  return { caFile: join(dir, 'ca.pem'), ...leaf }
}
