import type { Logger } from '@gridline/core'
import type { ChirpStackDownlinkResult } from '@gridline/processors'
import type { CommandService, CommandTransport, OutgoingCommand } from '../../commands/command-service.ts'
import type { LiveDeviceDirectory } from '../../devices/directory.ts'
import type { MqttClientSubscription } from './config.ts'

/** DevEUIs whose ChirpStack application id a subscription remembers; past it the oldest is forgotten. */
const REMEMBERED_APPLICATIONS = 100_000

export interface ChirpStackDownlinkDeps {
  registry: LiveDeviceDirectory
  commands: Pick<CommandService, 'settle' | 'pendingFor'>
  /** Publishes at QoS 1 on a connection that is up; false when none is. */
  publish(topic: string, payload: Buffer): boolean
  logger: Logger
}

/**
 * Commands as ChirpStack v4 downlinks, for one `chirpstack` subscription with
 * `chirpstack.downlinks` (docs/mqtt-client.md#commands-as-chirpstack-downlinks): a
 * DownlinkCommand on `application/<applicationId>/device/<devEui>/command/down`
 * whose `object` ({"action", ...params}) the device profile's encodeDownlink
 * codec turns into bytes, with the gridline command id as its `id`, which
 * ChirpStack gives back as `queueItemId` in the txack and ack events.
 *
 * Lifecycle: added to the command service when the source starts, removed
 * when it closes; `send` and `onResult` are never concurrent (one event loop).
 */
export class ChirpStackDownlinks implements CommandTransport {
  readonly name: string
  /** Lower-case DevEUI -> the application id its last event on this subscription came under (most recent last). */
  private readonly applications = new Map<string, string>()

  constructor(
    private readonly sourceId: string,
    /** Where in the config its mapping is, for the operator: `sources.<id>.subscriptions[<n>]`. */
    private readonly at: number,
    private readonly sub: MqttClientSubscription,
    private readonly deps: ChirpStackDownlinkDeps,
  ) {
    this.name = `chirpstack:${sourceId}`
  }

  /** A device with a DevEUI whose application is known: an event of it came through this subscription, or its chirpstackApplicationId metadata. */
  reaches(deviceId: string): boolean {
    const device = this.deps.registry.get(deviceId)
    const devEui = device?.kind === 'device' ? devEuiOf(device.metadata) : null
    return devEui !== null && this.applicationOf(devEui, device!.metadata) !== undefined
  }

  /** Any registered device with a DevEUI is ChirpStack's: when no subscription knows its application, `send` says so rather than gridline's topic taking it. */
  claims(deviceId: string): boolean {
    const device = this.deps.registry.get(deviceId)
    return device?.kind === 'device' && devEuiOf(device.metadata) !== null
  }

  /** The application a registered DevEUI's events come under on this subscription (the newest wins); at most REMEMBERED_APPLICATIONS, the oldest forgotten. */
  remember(devEui: string | null, applicationId: string | null): void {
    if (devEui === null || applicationId === null || applicationId === '' || applicationId.length > 64) return
    if (this.applications.get(devEui) === applicationId) return
    if (!this.deps.registry.byMetadata('devEui', devEui)) return
    this.applications.delete(devEui)
    this.applications.set(devEui, applicationId)
    if (this.applications.size > REMEMBERED_APPLICATIONS) this.applications.delete(this.applications.keys().next().value!)
  }

  private applicationOf(devEui: string, metadata: Record<string, unknown>): string | undefined {
    const meta = metadata.chirpstackApplicationId
    return this.applications.get(devEui) ?? (typeof meta === 'string' && meta !== '' ? meta : undefined)
  }

  send(command: OutgoingCommand): void {
    const device = this.deps.registry.get(command.deviceId)
    const devEui = device ? devEuiOf(device.metadata) : null
    if (!device || devEui === null) throw new Error(`device "${command.deviceId}" has no devEui metadata (16 hex digits), so ChirpStack cannot be told where to send it.`)
    const key = `${command.domain}.${command.action}`
    const mapping = this.sub.chirpstack.downlinks[key]
    if (!mapping) {
      throw new Error(`no downlink is configured for ${key}: set sources.${this.sourceId}.subscriptions[${this.at}].chirpstack.downlinks."${key}" to { fPort, confirmed } for the device profile's codec.`)
    }
    const applicationId = this.applicationOf(devEui, device.metadata)
    if (applicationId === undefined) {
      throw new Error(`the ChirpStack application of DevEUI ${devEui} is not known: no event of it has come through source ${this.sourceId} since gridline started, and the device has no chirpstackApplicationId metadata; set it (gridline devices set-metadata ${device.id} '{"chirpstackApplicationId": "<id>"}') or wait for its next uplink.`)
    }
    // ChirpStack v4 DownlinkCommand (integration.proto); `object` only works with a codec that encodes it.
    const downlink = { id: command.id, devEui, confirmed: mapping.confirmed, fPort: mapping.fPort, object: { action: command.action, ...command.params } }
    const topic = `application/${applicationId}/device/${devEui}/command/down`
    if (!this.deps.publish(topic, Buffer.from(JSON.stringify(downlink)))) {
      throw new Error(`source ${this.sourceId} is not connected to its broker; the downlink was not queued.`)
    }
  }

  /** An ack or txack event of this subscription: settles the command it names, if it is still pending. Never throws. */
  onResult(event: 'ack' | 'txack', result: ChirpStackDownlinkResult): void {
    if (result.devEui === null) return
    const device = this.deps.registry.byMetadata('devEui', result.devEui)
    if (!device) return
    const command = this.deps.commands.pendingFor(device.id).find((c) => c.id === result.queueItemId)
    if (!command) return
    const confirmed = this.sub.chirpstack.downlinks[`${command.domain}.${command.action}`]?.confirmed ?? false
    if (event === 'txack') {
      // A confirmed downlink waits for the device's ack; the gateway taking it says nothing of the device.
      if (confirmed) return
      this.deps.commands.settle(command.id, device.id, 'ok', `sent by gateway ${result.gatewayId ?? '(not named)'} as an unconfirmed downlink (ChirpStack txack); the device does not acknowledge it`)
      return
    }
    if (result.acknowledged) this.deps.commands.settle(command.id, device.id, 'ok', 'the device acknowledged the confirmed downlink (ChirpStack ack)')
    else this.deps.commands.settle(command.id, device.id, 'failed', 'the device did not acknowledge the confirmed downlink (ChirpStack ack with acknowledged false: ChirpStack stopped waiting for it)')
  }
}

/** The device's DevEUI from its metadata, lower case; null when it has none that is an EUI-64. */
export function devEuiOf(metadata: Record<string, unknown>): string | null {
  const v = metadata.devEui
  return typeof v === 'string' && /^[0-9A-Fa-f]{16}$/.test(v) ? v.toLowerCase() : null
}
