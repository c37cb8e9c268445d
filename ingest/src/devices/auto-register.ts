import { GridlineError, type Logger } from '@gridline/core'
import type { DecodeOptions } from '@gridline/processors'
import { DEVICE_ID_PATTERN } from '@gridline/schemas'
import type { Counter } from 'prom-client'
import { z } from 'zod'
import type { LiveDeviceDirectory } from './directory.ts'

/**
 * A source's `autoRegister` key (the http source's, the mqtt_client source's):
 * `gatewayHelp` says whose writes register devices on that source.
 */
export function autoRegisterSchema(gatewayHelp: string, off: string) {
  return z.strictObject({
    domain: z.string().min(1).describe('The catalogue domain the new devices get (environment, water, ...).'),
    gateway: z.string().regex(DEVICE_ID_PATTERN).describe(`The registered gateway they are put behind; ${gatewayHelp}`),
    maxPerHour: z.number().int().min(1).default(1_000).describe('New devices registered per hour at most (a bucket of this size, refilled over the hour); past it an unknown device is refused as device_unknown, as with autoRegister off.'),
  }).optional().describe(off)
}

export interface AutoRegisterConfig {
  domain: string
  gateway: string
  maxPerHour: number
}

export interface AutoRegistrarDeps {
  registry: LiveDeviceDirectory
  /** The source's `..._auto_registered_total{component_id, outcome}`: registered, over_limit. */
  counter: Counter<'component_id' | 'outcome'>
  logger: Logger
  now?: () => number
}

/**
 * Registers the unknown devices a source's messages name, behind the
 * configured gateway (no password of their own), at most `maxPerHour` a
 * hour: one bucket of that size, refilled evenly over the hour. Shared by
 * the http and mqtt_client sources; each decides which names a message
 * gives and when the registration happens (before the message is decoded,
 * so the synchronous decode finds the device in the registry).
 */
export class AutoRegistrar {
  private tokens: number
  private at: number
  private readonly now: () => number

  constructor(private readonly sourceId: string, readonly config: AutoRegisterConfig, private readonly deps: AutoRegistrarDeps) {
    this.now = deps.now ?? Date.now
    this.tokens = config.maxPerHour
    this.at = this.now()
  }

  /** At start: a domain the catalogue lacks is a config error; a gateway not registered (yet) is warned of. */
  check(catalogue: DecodeOptions['catalogue']): void {
    const { domain, gateway } = this.config
    if (!catalogue.hasDomain(domain)) {
      throw new GridlineError('GRIDLINE_CONFIG_INVALID', `sources.${this.sourceId}.autoRegister.domain: "${domain}" is not a catalogue domain (${[...catalogue.domains.keys()].join(', ')}).`)
    }
    if (this.deps.registry.get(gateway)?.kind !== 'gateway') {
      this.deps.logger.warn({ source: this.sourceId, gateway }, `sources.${this.sourceId}.autoRegister.gateway "${gateway}" is no registered gateway; no device is registered until it is (gridline devices add ${gateway} --kind gateway).`)
    }
  }

  /**
   * Registers those of `wanted` (device id -> metadata) the hour's budget
   * allows; the rest are counted over_limit and stay unknown. Resolves with
   * the ids registered; rejects when the registry cannot be written (the
   * caller then does not store the message, and the sender sends it again;
   * the budget those devices took is given back).
   */
  async register(wanted: ReadonlyMap<string, Record<string, unknown>>): Promise<string[]> {
    if (wanted.size === 0) return []
    const { gateway, domain, maxPerHour } = this.config
    const allowed: { id: string; metadata: Record<string, unknown> }[] = []
    for (const [id, metadata] of wanted) if (this.take()) allowed.push({ id, metadata })
    const over = wanted.size - allowed.length
    if (over > 0) {
      this.deps.counter.inc({ component_id: this.sourceId, outcome: 'over_limit' }, over)
      this.deps.logger.warn({ source: this.sourceId, devices: over, maxPerHour }, `autoRegister is over ${maxPerHour} new devices per hour; the rest are refused as device_unknown.`)
    }
    if (allowed.length === 0) return []
    let added: string[]
    try {
      added = await this.deps.registry.registerBehindGateway(allowed, domain, gateway)
    } catch (err) {
      // Nothing was registered: the budget is given back, so a sender that tries again (an MQTT redelivery) is not refused for it.
      this.tokens = Math.min(maxPerHour, this.tokens + allowed.length)
      throw err
    }
    if (added.length > 0) {
      this.deps.counter.inc({ component_id: this.sourceId, outcome: 'registered' }, added.length)
      this.deps.logger.info({ source: this.sourceId, gateway, domain, devices: added.slice(0, 20), count: added.length }, `autoRegister registered ${added.length} device(s) behind gateway ${gateway}.`)
    } else if (this.deps.registry.get(gateway)?.kind !== 'gateway') {
      this.deps.logger.warn({ source: this.sourceId, gateway }, `autoRegister could not register devices: "${gateway}" is no registered gateway.`)
    }
    return added
  }

  private take(): boolean {
    const now = this.now()
    const { maxPerHour } = this.config
    this.tokens = Math.min(maxPerHour, this.tokens + ((now - this.at) / 3_600_000) * maxPerHour)
    this.at = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
