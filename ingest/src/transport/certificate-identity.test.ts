import { describe, expect, test } from 'vitest'
import type { DeviceAuth, DeviceRecord } from '../devices/device-store.ts'
import { certificateIdentities, certificateLogin } from './certificate-identity.ts'

const device = (id: string, auth: DeviceAuth): DeviceRecord => ({ id, auth, kind: 'device', domain: 'environment', gateway: null, credentialsHash: null, metadata: {}, createdAt: new Date(0) })
const registry = new Map([device('cert-1', 'cert'), device('both-1', 'both'), device('pw-1', 'password')].map((d) => [d.id, d]))
const lookup = (id: string) => registry.get(id)

describe('certificateLogin', () => {
  test.each([
    // identities, username, password sent, outcome
    [['cert-1'], undefined, false, 'accept:cert-1'],
    [['cert-1'], 'cert-1', false, 'accept:cert-1'],
    [['cert-1'], 'cert-1', true, 'refuse:password_not_allowed'],
    [['cert-1'], undefined, true, 'refuse:password_not_allowed'],
    [['cert-1'], 'pw-1', true, 'refuse:certificate_mismatch'],
    [['cert-1'], 'both-1', false, 'refuse:certificate_mismatch'],
    [['both-1'], undefined, false, 'accept:both-1'],
    [['both-1'], 'both-1', true, 'password'],
    [['pw-1'], 'pw-1', true, 'password'],
    [['pw-1'], undefined, false, 'refuse:certificate_unregistered'],
    [['nobody'], undefined, false, 'refuse:certificate_unregistered'],
    [['nobody'], 'nobody', false, 'refuse:certificate_unregistered'],
    [['gridline ingest', 'cert-1'], undefined, false, 'accept:cert-1'],
  ] as const)('%j as %s (password: %s) -> %s', (ids, username, password, expected) => {
    const login = certificateLogin([...ids], username, password, lookup)
    const got = login.outcome === 'accept' ? `accept:${login.device.id}` : login.outcome === 'refuse' ? `refuse:${login.reason}` : 'password'
    expect(got).toBe(expected)
  })
})

describe('certificateIdentities', () => {
  const socket = (authorized: boolean, cert: object) => ({ authorized, getPeerCertificate: () => cert })

  test('reads the CN, DNS SANs and gridline device URNs of a verified certificate', () => {
    expect(certificateIdentities(socket(true, { subject: { CN: 'a-1' }, subjectaltname: 'DNS:b-1, URI:urn:gridline:device:c-1, URI:https://x, IP Address:127.0.0.1' })))
      .toEqual(['a-1', 'b-1', 'c-1'])
  })

  test('is null without TLS, without a certificate, or for one that did not verify', () => {
    expect(certificateIdentities({})).toBeNull()
    expect(certificateIdentities(socket(true, {}))).toBeNull()
    expect(certificateIdentities(socket(false, { subject: { CN: 'a-1' } }))).toBeNull()
  })
})
