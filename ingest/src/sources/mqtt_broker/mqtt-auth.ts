import type { Socket } from 'node:net'
import type { Logger, Principal } from '@gridline/core'
import type { AuthenticateError, Client } from 'aedes'
import { type DeviceRecord, principalOf } from '../../devices/device-store.ts'
import type { LiveDeviceDirectory } from '../../devices/directory.ts'
import type { IngestMetrics } from '../../metrics.ts'
import { AuthThrottle, type AuthThrottleOptions, DEFAULT_AUTH_THROTTLE } from '../../devices/auth-throttle.ts'
import { certificateIdentities, certificateLogin } from '../../transport/certificate-identity.ts'
import { SessionOwners } from './session-owners.ts'

export { principalOf }

/**
 * Authentication and authorization for the embedded broker: who may log in
 * (password with a guessing throttle, or a verified client certificate), which
 * client ids a login may use, and what it may subscribe to. It knows MQTT and
 * the device directory, and nothing of the pipeline.
 */
export class MqttAuth {
  private readonly owners = new SessionOwners()
  private readonly throttle: AuthThrottle

  constructor(
    private readonly mode: 'devices' | 'none',
    private readonly deps: {
      directory: LiveDeviceDirectory | null
      metrics: IngestMetrics
      logger: Logger
      /** Whether a connection with this client id is registered in the broker now. */
      isConnected: (clientId: string) => boolean
      /** Password-guessing throttle; DEFAULT_AUTH_THROTTLE unless a test needs other limits. */
      authThrottle?: AuthThrottleOptions | undefined
    },
  ) {
    this.throttle = new AuthThrottle(deps.authThrottle ?? DEFAULT_AUTH_THROTTLE)
  }

  /**
   * aedes' authenticate hook. `accept` records the principal on the client
   * (null: auth is off) and must be called before `done(null, true)`;
   * `emptyClientId`: the CONNECT carried a zero-length client id.
   */
  authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    emptyClientId: boolean,
    accept: (principal: Principal | null) => void,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const { directory, metrics, logger } = this.deps
    const refuse = (reason: string, code: 2 | 3 | 4 | 5) => {
      if (code === 2) metrics.clientIdRejected.inc({ reason })
      else metrics.authFailures.inc({ reason })
      logger.debug({ clientId: client.id, username, reason }, 'Refused a connection.')
      const err = new Error(`connection refused: ${reason}`) as AuthenticateError
      err.returnCode = code
      done(err, null)
    }
    // A session needs a client id to be found again by [MQTT-3.1.3-8].
    if (emptyClientId && !client.clean) return refuse('empty_persistent', 2)
    const ok = (principal: Principal | null) => {
      accept(principal)
      done(null, true)
    }
    if (this.mode === 'none' || !directory) return ok(null)
    // A session belongs to the login that made it (docs/protocol.md#client-ids):
    // never taken over by another login, only by its own [MQTT-3.1.4-2].
    const admit = (device: DeviceRecord) => {
      const clientId = client.id
      if (!this.owners.mayUse(clientId, device.id)) return refuse(this.deps.isConnected(clientId) ? 'in_use' : 'session_held', 2)
      const conn = client.conn as Socket
      if (conn.destroyed) return
      this.owners.claim(clientId, device.id, client.clean)
      conn.once('close', () => this.owners.release(clientId, device.id))
      ok(principalOf(device))
    }
    // A verified client certificate (TLS listener with mqtt.tls.caFile) may log in by itself.
    const identities = certificateIdentities(client.conn)
    if (identities) {
      const login = certificateLogin(identities, username, password !== undefined, (id) => directory.get(id))
      if (login.outcome === 'accept') return admit(login.device)
      if (login.outcome === 'refuse') return refuse(login.reason, login.reason === 'certificate_mismatch' ? 5 : 4)
    }
    if (!username || !password) return refuse('missing_credentials', 4)
    const address = (client.conn as Partial<Socket>).remoteAddress ?? ''
    // Counted as a failure before the check, so concurrent guesses are throttled too.
    const verdict = this.throttle.admit(username, address)
    if (!verdict.allowed) {
      // Refused before any check: a throttled guess costs nothing and learns nothing.
      metrics.authThrottled.inc({ scope: verdict.scope })
      return refuse('throttled', 3)
    }
    directory.authenticate(username, password.toString('utf8')).then((device) => {
      if (!device) {
        this.throttle.failure(username, address, verdict)
        return refuse('bad_credentials', 4)
      }
      this.throttle.success(username, address)
      admit(device)
    }, (err) => {
      logger.error({ err }, 'Checking device credentials failed.')
      refuse('error', 5)
    })
  }
}

/**
 * What a device or gateway may subscribe to: its own command topics and its
 * own rejections topic (exactly, no wildcards); an integration: alarm events.
 * A gateway that is a Sparkplug edge node also its own NCMD and DCMD topics
 * and the host applications' STATE (docs/sparkplug.md).
 */
export function mayReceive(principal: Principal, topic: string): boolean {
  if (principal.kind === 'device') return topic === `commands/${principal.domain}/${principal.id}` || topic === `rejections/${principal.domain}/${principal.id}`
  if (principal.kind === 'integration') return topic.startsWith('alarms/')
  return topic === `gateways/${principal.id}/commands` || topic.startsWith(`gateways/${principal.id}/commands/`) || topic === `gateways/${principal.id}/rejections` || sparkplugMayReceive(principal.id, topic)
}

/** `spBv1.0/<group>/NCMD|DCMD/<edgeNode>[/<device>|/+|/#]` of this edge node (group may be `+`), or `spBv1.0/STATE/<hostId>|+`. */
function sparkplugMayReceive(edgeNode: string, topic: string): boolean {
  const levels = topic.split('/')
  if (levels[0] !== 'spBv1.0') return false
  if (levels[1] === 'STATE') return levels.length === 3 && levels[2] !== '' && levels[2] !== '#'
  const [, group, type, node, device, ...rest] = levels
  if (group === undefined || group === '' || group === '#' || (type !== 'NCMD' && type !== 'DCMD') || node !== edgeNode || rest.length > 0) return false
  return device === undefined || (device !== '' && (type === 'DCMD' || device === '#'))
}
