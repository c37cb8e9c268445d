import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { OPCUACertificateManager, type UserIdentityInfo, UserTokenType } from 'node-opcua'
import type { OpcuaServerConfig } from '../../config.ts'

const managers = new Map<string, OPCUACertificateManager>()

/**
 * The agent's OPC-UA application certificate and trust lists live in
 * `<dataDir>/pki` (created with a self-signed certificate on first use).
 * Server certificates are accepted on first contact and kept in
 * `pki/trusted`; move one to `pki/rejected` to stop trusting it.
 */
export function certificateManagerFor(dataDir: string): OPCUACertificateManager {
  const rootFolder = resolve(dataDir, 'pki')
  let manager = managers.get(rootFolder)
  if (!manager) {
    manager = new OPCUACertificateManager({ rootFolder, automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true })
    managers.set(rootFolder, manager)
  }
  return manager
}

/** The session's user identity; certificate files are read from `<dataDir>/pki`. */
export function userIdentityFor(auth: OpcuaServerConfig['auth'], dataDir: string): UserIdentityInfo {
  if (auth.type === 'username') return { type: UserTokenType.UserName, userName: auth.username, password: auth.password }
  if (auth.type === 'certificate') {
    const pki = resolve(dataDir, 'pki')
    return {
      type: UserTokenType.Certificate,
      certificateData: toDer(readFileSync(join(pki, auth.certFile))),
      privateKey: readFileSync(join(pki, auth.keyFile), 'utf8'),
    } as UserIdentityInfo
  }
  return { type: UserTokenType.Anonymous }
}

function toDer(file: Buffer): Buffer {
  const text = file.toString('latin1')
  const match = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(text)
  return match ? Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64') : file
}
