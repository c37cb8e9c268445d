import { BlockList, isIP } from 'node:net'
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'

/**
 * Addresses a webhook must not reach unless its endpoint allows it
 * (allowPrivateNetwork): a URL in the config, or a name that resolves to one
 * of these, would let whoever edits endpoints probe the service's own network
 * (the database, the cloud metadata service at 169.254.169.254). [RFC 6890]
 */
const INTERNAL = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) INTERNAL.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32], ['64:ff9b::', 96]] as const) INTERNAL.addSubnet(net, prefix, 'ipv6')

/** True for a loopback, private, link-local, shared, documentation, multicast or reserved address (IPv4-mapped IPv6 included). */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return INTERNAL.check(mapped[1]!, 'ipv4')
  const family = isIP(address)
  if (family === 0) return true
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

export class AddressRefused extends Error {
  readonly reason = 'address_refused'
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/**
 * A `lookup` for http.request that resolves the name and refuses internal
 * addresses; the socket connects to the address that was checked, so a name
 * that resolves differently a moment later (DNS rebinding) gains nothing.
 */
export function guardedLookup(allowInternal: boolean) {
  return (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    dnsLookup(hostname, { all: true, family: typeof options.family === 'number' ? options.family : 0 }, (err, addresses) => {
      if (err) return callback(err, [])
      const list = addresses as LookupAddress[]
      if (!allowInternal) {
        const bad = list.find((a) => isInternalAddress(a.address))
        if (bad) return callback(new AddressRefused(`${hostname} resolves to ${bad.address}, an internal address; set allowPrivateNetwork on the endpoint to allow it.`) as NodeJS.ErrnoException, [])
      }
      if (options.all) return callback(null, list)
      callback(null, list[0]!.address, list[0]!.family)
    })
  }
}

/** Checks a URL whose host is an IP literal (no lookup is made for those). Throws AddressRefused. */
export function checkLiteralHost(url: URL, allowInternal: boolean): void {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (allowInternal || isIP(host) === 0) return
  if (isInternalAddress(host)) throw new AddressRefused(`${host} is an internal address; set allowPrivateNetwork on the endpoint to allow it.`)
}
