import type { PeerCertificate, TLSSocket } from 'node:tls'
import type { DeviceRecord } from '../devices/device-store.ts'

/** The URI SAN form of a device identity: `urn:gridline:device:<id>`. */
const DEVICE_URN = 'urn:gridline:device:'

/**
 * The device ids a verified client certificate names, CN first, then the SANs
 * (`DNS:<id>` or `URI:urn:gridline:device:<id>`). Null when the connection is
 * not TLS or presented no certificate; the TLS listener has already closed
 * connections whose certificate did not verify, and this checks again.
 */
export function certificateIdentities(conn: unknown): string[] | null {
  const socket = conn as Partial<TLSSocket>
  if (typeof socket.getPeerCertificate !== 'function' || socket.authorized !== true) return null
  const cert: Partial<PeerCertificate> = socket.getPeerCertificate()
  if (!cert || Object.keys(cert).length === 0) return null
  const ids: string[] = []
  const cn = cert.subject?.CN
  for (const name of Array.isArray(cn) ? cn : cn ? [cn] : []) ids.push(name)
  // Node formats subjectaltname as "DNS:a, URI:b, IP Address:c"; values with commas are quoted.
  for (const entry of (cert.subjectaltname ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) ids.push(entry.slice(4))
    else if (entry.startsWith(`URI:${DEVICE_URN}`)) ids.push(entry.slice(4 + DEVICE_URN.length))
  }
  return [...new Set(ids)]
}

export type CertificateLogin =
  | { outcome: 'accept'; device: DeviceRecord }
  /** Go on with the password check (a password device, or `both` with a password given). */
  | { outcome: 'password' }
  | { outcome: 'refuse'; reason: 'certificate_mismatch' | 'certificate_unregistered' | 'password_not_allowed' }

/**
 * Decides a login made with a verified client certificate
 * (docs/protocol.md#connecting-over-tls):
 * - with a username, the certificate must name it, else `certificate_mismatch`
 *   (a device's certificate never logs in as another device);
 * - a `cert` device needs no password and is refused when it sends one;
 * - a `both` device sending a password has it checked as well;
 * - a `password` device is decided by its password, as without TLS;
 * - without a username, the first name in the certificate (CN, then SANs)
 *   that is a device registered for certificate login is the login.
 */
export function certificateLogin(identities: string[], username: string | undefined, hasPassword: boolean, lookup: (id: string) => DeviceRecord | undefined): CertificateLogin {
  if (username) {
    if (!identities.includes(username)) return { outcome: 'refuse', reason: 'certificate_mismatch' }
    const device = lookup(username)
    if (!device) return { outcome: 'refuse', reason: 'certificate_unregistered' }
    if (device.auth === 'password') return { outcome: 'password' }
    if (hasPassword) return device.auth === 'both' ? { outcome: 'password' } : { outcome: 'refuse', reason: 'password_not_allowed' }
    return { outcome: 'accept', device }
  }
  if (hasPassword) return { outcome: 'refuse', reason: 'password_not_allowed' } // [MQTT-3.1.2-22]: no password without a username
  for (const id of identities) {
    const device = lookup(id)
    if (device && device.auth !== 'password') return { outcome: 'accept', device }
  }
  return { outcome: 'refuse', reason: 'certificate_unregistered' }
}
