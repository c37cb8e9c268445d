import { gunzipSync, inflateSync } from 'node:zlib'
import type { DecodedMessage, Principal, StatusChange } from '@gridline/core'
import type { RejectReason } from '@gridline/schemas'
import sparkplugPayload from 'sparkplug-payload'
import protoRoot from 'sparkplug-payload/lib/sparkplugPayloadProto.js'
import type { LineDevice } from './line-protocol-decode.ts'
import { type DecodeOptions, ReadingValidator, clip, emptyDecoded, refuseMessage } from './reading-validator.ts'

/**
 * Sparkplug B 3.0 host application logic (docs/sparkplug.md), with no I/O:
 * it reads the messages of the `spBv1.0` namespace, keeps each edge node's
 * birth certificates (metric names, datatypes, aliases), its `seq` and
 * `bdSeq`, and turns data into readings for the shared reading rules; it
 * says which device status changes and which rebirth request (NCMD) a
 * message calls for, and the caller stores and publishes them. One instance
 * per broker: an embedded broker's or an MQTT client source's namespace.
 */

export const SPARKPLUG_NAMESPACE = 'spBv1.0'
const MESSAGE_TYPES = ['NBIRTH', 'NDATA', 'NDEATH', 'DBIRTH', 'DDATA', 'DDEATH', 'NCMD', 'DCMD'] as const
export type SparkplugMessageType = (typeof MESSAGE_TYPES)[number] | 'STATE'

/** Sparkplug B datatypes (tahu's sparkplug_b.proto). */
export const SPARKPLUG_DATATYPES: readonly string[] = ['Unknown', 'Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'Float', 'Double', 'Boolean', 'String', 'DateTime', 'Text', 'UUID', 'DataSet', 'Bytes', 'File', 'Template', 'PropertySet', 'PropertySetList']
/** Datatypes that are measurements: integers, floats, Boolean. The others (text, bytes, datasets, templates, DateTime) are not telemetry. */
const isNumeric = (datatype: number): boolean => datatype >= 1 && datatype <= 11
/** The protobuf oneof value field each datatype is carried in. */
function valueFieldOf(datatype: number): string | null {
  if (datatype >= 1 && datatype <= 3) return 'intValue'
  if (datatype === 5 || datatype === 6) return 'intValue'
  if (datatype === 4 || datatype === 7 || datatype === 8 || datatype === 13) return 'longValue'
  if (datatype === 9) return 'floatValue'
  if (datatype === 10) return 'doubleValue'
  if (datatype === 11) return 'booleanValue'
  return null
}

/** Metrics of the namespace itself, never telemetry unless a mapping names them. */
const CONTROL_PREFIXES = ['Node Control/', 'Device Control/', 'Properties/']

/** How edge nodes, their devices and their metrics are gridline's (docs/sparkplug.md#mapping). */
export interface SparkplugMapping {
  /** The registered gateway an edge node is (its id is the edge node id), or undefined. */
  gateway(edgeNode: string): { id: string } | undefined
  /** A device of an edge node: the device registered behind `gatewayId` whose id (or metadata `sparkplugDevice`) is `name`. */
  device(gatewayId: string, name: string): (LineDevice & { gateway: string | null }) | 'not_behind' | undefined
  /** The device behind the gateway that takes the edge node's own metrics (metadata `sparkplugDevice: "$node"`), if one does. */
  nodeDevice(gatewayId: string): LineDevice | undefined
  /** A Sparkplug metric name to a catalogue metric; null: not stored (counted as `unmapped`); undefined: the default rule. */
  metric(name: string, edgeNode: string, device: string | null): string | null | undefined
}

export interface SparkplugOutcome {
  decoded: DecodedMessage
  type: SparkplugMessageType | null
  /** Device status the message sets: births online, deaths offline. */
  statuses: StatusChange[]
  /** A rebirth request to publish (NCMD `Node Control/Rebirth`), when one is due. */
  rebirth: { topic: string; payload: Buffer } | null
  /** Metrics read but not stored, by why: `datatype` (not a measurement), `control`, `unmapped`, `node` (no device takes the node's metrics), `stale_death`. */
  skipped: Map<string, number>
  /** Why a rebirth was asked for: `no_birth`, `seq_gap`, `alias_unknown`. */
  rebirthReason: string | null
  /** Values of watched metrics (`SparkplugHost.watch`) the message reported, by the registry id of their device. */
  reported: { deviceId: string; metric: string; value: number | boolean }[]
}

/** A write to a born metric (`SparkplugHost.write`): the NCMD/DCMD to publish (QoS 0, not retained), and the value as the metric's datatype takes it. */
export interface SparkplugWrite {
  topic: string
  payload: Buffer
  /** The metric's full name and its datatype, as born. */
  metric: string
  datatype: string
  value: number | boolean
}

interface BirthMetric {
  name: string
  datatype: number
  /** Its alias when the birth gave one: commands must then name it by alias only. */
  alias?: string
  /**
   * The catalogue metric this definition was last stored as, and for which
   * mapping, catalogue and domain: a data message resolves each metric by
   * its birth, so the name is worked out once per birth, not per message.
   */
  named?: { mapping: SparkplugMapping; catalogue: DecodeOptions['catalogue']; domain: string | null; metric: string | null }
}

interface Birth {
  byAlias: Map<string, BirthMetric>
  byName: Map<string, BirthMetric>
}

interface DeviceState {
  device: LineDevice
  birth: Birth
}

interface NodeState {
  group: string
  edgeNode: string
  gatewayId: string
  bdSeq: string | null
  seq: number
  birth: Birth
  devices: Map<string, DeviceState>
  /** Which device (or '' for the node) holds each alias, so a collision across a node's births is seen. */
  aliasOwners: Map<string, string>
}

/** protobufjs's 64-bit integers (the `long` package's Long), or a number. */
interface Long { high: number; low: number; toSigned(): Long; toNumber(): number; toString(): string }
type ProtoLong = Long | number
interface ProtoMetric {
  name?: string
  alias?: ProtoLong
  timestamp?: ProtoLong
  datatype?: number
  isNull?: boolean
  value?: string
  [field: string]: unknown
}
interface ProtoPayload {
  timestamp?: ProtoLong
  metrics: ProtoMetric[]
  seq?: ProtoLong
  uuid?: string
  body?: Uint8Array
}

/** Tahu's compressed payloads: the real one, deflated or gzipped, in `body`. */
const COMPRESSED = 'SPBV1.0_COMPRESSED'
/** A compressed payload inflates to at most this (a message's limit), so a small bomb costs nothing. */
const MAX_INFLATED_BYTES = 1_048_576

/** The payload, inflated when it is a compressed one; throws on bad bytes (the caller refuses them). */
function decodePayload(bytes: Buffer): ProtoPayload {
  const p = Payload.decode(bytes)
  if (p.uuid !== COMPRESSED) return p
  const algorithm = p.metrics.find((m) => m.name === 'algorithm')?.stringValue
  const body = Buffer.from(p.body ?? [])
  const inflated = typeof algorithm === 'string' && algorithm.toUpperCase() === 'GZIP'
    ? gunzipSync(body, { maxOutputLength: MAX_INFLATED_BYTES })
    : inflateSync(body, { maxOutputLength: MAX_INFLATED_BYTES })
  return Payload.decode(inflated)
}

const Payload = (protoRoot as unknown as { org: { eclipse: { tahu: { protobuf: { Payload: { decode(bytes: Uint8Array): ProtoPayload } } } } } }).org.eclipse.tahu.protobuf.Payload
const codec = (sparkplugPayload as unknown as { get(ns: string): { encodePayload(p: unknown): Uint8Array } }).get(SPARKPLUG_NAMESPACE)

const has = (m: object, field: string): boolean => Object.hasOwn(m, field)
// The usual alias or number fits in the low 32 bits: read those rather than Long's general toString (a profile's hot spot).
const longText = (v: ProtoLong): string => (typeof v === 'number' ? String(v) : v.high === 0 ? String(v.low >>> 0) : v.toString())
const longNumber = (v: ProtoLong, signed = false): number => (typeof v === 'number' ? v : (signed ? v.toSigned() : v).toNumber())

export interface SparkplugHostOptions {
  /** At most one rebirth request per edge node this often. */
  rebirthIntervalMs?: number
  /** Edge nodes remembered at most (their births); past it the oldest is forgotten and asked to rebirth when it speaks. */
  maxNodes?: number
}

export class SparkplugHost {
  private readonly nodes = new Map<string, NodeState>()
  private readonly lastRebirth = new Map<string, number>()
  /** Registry device id -> watched Sparkplug metric names (with how many watch each). */
  private readonly watched = new Map<string, Map<string, number>>()
  private readonly rebirthIntervalMs: number
  private readonly maxNodes: number

  constructor(options: SparkplugHostOptions = {}) {
    this.rebirthIntervalMs = options.rebirthIntervalMs ?? 5_000
    this.maxNodes = options.maxNodes ?? 100_000
  }

  /** Edge nodes with a birth certificate now, and their born devices. */
  stats(): { nodes: number; devices: number } {
    let devices = 0
    for (const n of this.nodes.values()) devices += n.devices.size
    return { nodes: this.nodes.size, devices }
  }

  /**
   * One message of the namespace. `principal`: the login it came from (the
   * embedded broker: an edge node logs in as its gateway and may speak only
   * for itself); null when the source cannot know (a client of another
   * broker, or auth off). Never throws.
   */
  handle(topic: string, payload: Buffer, receivedAt: number, principal: Principal | null, options: DecodeOptions, mapping: SparkplugMapping): SparkplugOutcome {
    const out: SparkplugOutcome = { decoded: emptyDecoded(), type: null, statuses: [], rebirth: null, skipped: new Map(), rebirthReason: null, reported: [] }
    try {
      this.handleUnguarded(out, topic, payload, receivedAt, principal, options, mapping)
    } catch (err) {
      const what = err instanceof Error ? `${err.name}: ${err.message}` : 'a non-error value was thrown'
      out.decoded = refuseMessage(emptyDecoded(), options, payload, 'decode_failed', `the Sparkplug message could not be handled (${clip(what, 200)})`, null)
      out.statuses = []
      out.reported = []
    }
    return out
  }

  /**
   * Reports each value `metric` (its Sparkplug name) of the device with
   * registry id `deviceId` is sent with, in `SparkplugOutcome.reported`,
   * until `unwatch`: how a write is seen to have been carried out. Counted:
   * watch twice, unwatch twice.
   */
  watch(deviceId: string, metric: string): void {
    let metrics = this.watched.get(deviceId)
    if (!metrics) this.watched.set(deviceId, (metrics = new Map()))
    metrics.set(metric, (metrics.get(metric) ?? 0) + 1)
  }

  unwatch(deviceId: string, metric: string): void {
    const metrics = this.watched.get(deviceId)
    const n = metrics?.get(metric)
    if (!metrics || n === undefined) return
    if (n > 1) metrics.set(metric, n - 1)
    else metrics.delete(metric)
    if (metrics.size === 0) this.watched.delete(deviceId)
  }

  /** Whether the device with this registry id (or, with `device` null, the edge node of this gateway) is born now. */
  born(gatewayId: string, deviceId: string | null): boolean {
    return this.target(gatewayId, deviceId) !== undefined
  }

  /**
   * A write of `value` to the metric `metric` of a born device (`deviceId`,
   * its registry id, behind the edge node `gatewayId`), or with `deviceId`
   * null of the edge node itself: the DCMD (NCMD) carrying it by alias when
   * the birth gave one, else by name, with the datatype of the birth
   * (Sparkplug 3.0: commands carry a timestamp and no seq). A sentence for
   * the operator when it cannot be written: not born, no such metric, a value
   * the datatype cannot hold.
   */
  write(gatewayId: string, deviceId: string | null, metric: string, value: unknown, now: number): SparkplugWrite | { error: string } {
    const target = this.target(gatewayId, deviceId)
    const who = deviceId === null ? `edge node "${gatewayId}"` : `device "${deviceId}"`
    if (!target) return { error: `${who} is not born: its ${deviceId === null ? 'NBIRTH' : 'DBIRTH'} has not been seen since it (or gridline) last connected, so it is offline or unknown to this host` }
    const def = target.birth.byName.get(metric)
    if (!def) return { error: `${who} has no metric "${clip(metric, 64)}" in its birth certificate (it has ${[...target.birth.byName.keys()].slice(0, 8).map((n) => `"${clip(n, 64)}"`).join(', ')})` }
    const datatype = SPARKPLUG_DATATYPES[def.datatype]!
    const checked = writable(def.datatype, value)
    if (typeof checked === 'string') return { error: `"${clip(metric, 64)}" is ${datatype}: ${checked}` }
    const topic = `${SPARKPLUG_NAMESPACE}/${target.node.group}/${deviceId === null ? 'NCMD' : 'DCMD'}/${target.node.edgeNode}${target.name === null ? '' : `/${target.name}`}`
    const written = def.alias === undefined
      ? { name: def.name, type: datatype, value: checked }
      : { alias: Number(def.alias), type: datatype, value: checked }
    return { topic, payload: encodeSparkplug({ timestamp: now, metrics: [written] }), metric: def.name, datatype, value: checked }
  }

  private target(gatewayId: string, deviceId: string | null): { node: NodeState; name: string | null; birth: Birth } | undefined {
    let found: { node: NodeState; name: string | null; birth: Birth } | undefined
    for (const node of this.nodes.values()) {
      if (node.gatewayId !== gatewayId) continue
      if (deviceId === null) found = { node, name: null, birth: node.birth }
      else for (const [name, d] of node.devices) if (d.device.id === deviceId) found = { node, name, birth: d.birth }
    }
    return found
  }

  private handleUnguarded(out: SparkplugOutcome, topic: string, payload: Buffer, receivedAt: number, principal: Principal | null, options: DecodeOptions, mapping: SparkplugMapping): void {
    const refuse = (reason: RejectReason, detail: string, deviceId: string | null = null) => {
      refuseMessage(out.decoded, options, payload, reason, detail, deviceId)
    }
    const levels = topic.split('/')
    if (levels[0] !== SPARKPLUG_NAMESPACE) return refuse('sparkplug_topic_invalid', `"${clip(topic, 200)}" is not in the ${SPARKPLUG_NAMESPACE} namespace`)
    if (levels[1] === 'STATE') {
      // Another host application's (or our own) STATE: nothing to store.
      out.type = 'STATE'
      if (principal !== null) refuse('topic_not_authorized', `client "${principal.id}" may not publish a host application's STATE`)
      return
    }
    const [, group, type, edgeNode, deviceName, ...rest] = levels
    if (group === undefined || group === '' || edgeNode === undefined || edgeNode === '' || !(MESSAGE_TYPES as readonly string[]).includes(type ?? '') || rest.length > 0) {
      return refuse('sparkplug_topic_invalid', `"${clip(topic, 200)}" is not ${SPARKPLUG_NAMESPACE}/<group>/<NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|DDEATH|NCMD|DCMD>/<edgeNode>[/<device>]`)
    }
    const kind = type as (typeof MESSAGE_TYPES)[number]
    out.type = kind
    const deviceLevel = kind[0] === 'D'
    if (deviceLevel !== (deviceName !== undefined && deviceName !== '')) {
      return refuse('sparkplug_topic_invalid', deviceLevel ? `a ${kind} topic needs a device level: ${SPARKPLUG_NAMESPACE}/${clip(group, 64)}/${kind}/${clip(edgeNode, 64)}/<device>` : `a ${kind} topic has no device level, got "${clip(topic, 200)}"`)
    }
    if (kind === 'NCMD' || kind === 'DCMD') {
      // Commands are a host's to send: an edge node publishing one is refused; another host's (seen by a client source) is only counted.
      if (principal !== null) refuse('topic_not_authorized', `client "${principal.id}" may not send ${kind} commands`)
      return
    }
    const gateway = mapping.gateway(edgeNode)
    if (principal !== null && (principal.kind !== 'gateway' || principal.id !== edgeNode)) {
      return refuse('topic_not_authorized', `client "${principal.id}" may publish only as its own edge node (${SPARKPLUG_NAMESPACE}/<group>/<type>/${principal.id}), not as "${clip(edgeNode, 64)}"; an edge node logs in as the gateway it is registered as`)
    }
    if (!gateway) return refuse('device_unknown', `edge node "${clip(edgeNode, 64)}" is not a registered gateway (gridline devices add ${clip(edgeNode, 64)} --kind gateway)`)

    let decodedPayload: ProtoPayload
    try {
      decodedPayload = decodePayload(payload)
    } catch (err) {
      return refuse('protobuf_malformed', `the ${kind} payload is not a Sparkplug B Payload: ${clip((err as Error).message, 200)}`)
    }
    const key = `${group}/${edgeNode}`
    const node = this.nodes.get(key)
    const seq = decodedPayload.seq === undefined || !has(decodedPayload, 'seq') ? null : longNumber(decodedPayload.seq)
    const messageTime = has(decodedPayload, 'timestamp') && decodedPayload.timestamp !== undefined ? longNumber(decodedPayload.timestamp) : receivedAt
    // Statuses are stamped when the host learned them: a death's own timestamp is the will's, set when the node
    // connected, and an edge node's clock may lag the host's; births and deaths must order as they arrived.
    const status = (deviceId: string, domain: string | null, state: 'online' | 'offline') => out.statuses.push({ deviceId, domain: domain ?? '', state, time: receivedAt, receivedAt })

    if (kind === 'NDEATH') {
      if (!node) {
        out.skipped.set('stale_death', 1)
        return
      }
      // bdSeq pairs the death (the will set at CONNECT) with the birth of that same session: a will of an older session, delivered late, must not kill the new one.
      const bdSeq = bdSeqOf(decodedPayload)
      if (node.bdSeq !== null && bdSeq !== null && bdSeq !== node.bdSeq) {
        out.skipped.set('stale_death', 1)
        return
      }
      status(node.gatewayId, null, 'offline')
      for (const d of node.devices.values()) status(d.device.id, d.device.domain, 'offline')
      this.nodes.delete(key)
      return
    }
    if (kind === 'NBIRTH') {
      const birth = this.readBirth(decodedPayload.metrics, '', new Map(), out, options, payload, null)
      if (!birth) return
      this.nodes.delete(key) // a new birth ends the old session and its devices' births
      if (this.nodes.size >= this.maxNodes) this.nodes.delete(this.nodes.keys().next().value!)
      const fresh: NodeState = { group, edgeNode, gatewayId: gateway.id, bdSeq: bdSeqOf(decodedPayload), seq: seq ?? 0, birth: birth.birth, devices: new Map(), aliasOwners: birth.owners }
      this.nodes.set(key, fresh)
      status(gateway.id, null, 'online')
      this.store(out, decodedPayload, fresh.birth, mapping.nodeDevice(gateway.id), edgeNode, null, receivedAt, options, mapping, messageTime)
      return
    }
    // Everything else is in a node's session: NDATA, DBIRTH, DDATA, DDEATH.
    if (!node) {
      this.requestRebirth(out, group, edgeNode, receivedAt, 'no_birth')
      return refuse('sparkplug_no_birth', `${kind} from edge node "${clip(edgeNode, 64)}" (group "${clip(group, 64)}") before its NBIRTH: not stored, a rebirth was requested`)
    }
    if (seq !== null) {
      const expected = (node.seq + 1) % 256
      node.seq = seq
      if (seq !== expected) this.requestRebirth(out, group, edgeNode, receivedAt, 'seq_gap')
    }
    if (kind === 'NDATA') {
      this.store(out, decodedPayload, node.birth, mapping.nodeDevice(node.gatewayId), edgeNode, null, receivedAt, options, mapping, messageTime, () => this.requestRebirth(out, group, edgeNode, receivedAt, 'alias_unknown'))
      return
    }
    const name = deviceName!
    if (kind === 'DBIRTH') {
      const device = mapping.device(node.gatewayId, name)
      if (device === 'not_behind') return refuse('device_not_behind_gateway', `Sparkplug device "${clip(name, 64)}" of edge node "${clip(edgeNode, 64)}" is registered, but not behind gateway "${node.gatewayId}"`, name)
      if (!device) return refuse('device_unknown', `Sparkplug device "${clip(name, 64)}" of edge node "${clip(edgeNode, 64)}" is not registered (gridline devices add ${clip(name, 64)} --domain <domain> --gateway ${node.gatewayId})`)
      if (device.domain === null) return refuse('device_not_authorized', `"${device.id}" is a gateway or integration login, which has no telemetry of its own`, device.id)
      // Its aliases leave the node's table before the new birth's are checked against the others'.
      releaseAliases(node, name)
      node.devices.delete(name)
      const birth = this.readBirth(decodedPayload.metrics, name, node.aliasOwners, out, options, payload, device.id)
      if (!birth) return
      for (const [alias, owner] of birth.owners) node.aliasOwners.set(alias, owner)
      node.devices.set(name, { device, birth: birth.birth })
      status(device.id, device.domain, 'online')
      this.store(out, decodedPayload, birth.birth, device, edgeNode, name, receivedAt, options, mapping, messageTime)
      return
    }
    const born = node.devices.get(name)
    if (!born) {
      this.requestRebirth(out, group, edgeNode, receivedAt, 'no_birth')
      return refuse('sparkplug_no_birth', `${kind} for device "${clip(name, 64)}" of edge node "${clip(edgeNode, 64)}" before its DBIRTH: not stored, a rebirth was requested`)
    }
    if (kind === 'DDEATH') {
      node.devices.delete(name)
      releaseAliases(node, name)
      status(born.device.id, born.device.domain, 'offline')
      return
    }
    this.store(out, decodedPayload, born.birth, born.device, edgeNode, name, receivedAt, options, mapping, messageTime, () => this.requestRebirth(out, group, edgeNode, receivedAt, 'alias_unknown'))
  }

  /** Reads a birth's metric definitions; null (the message refused) when they cannot define the metrics. */
  private readBirth(metrics: ProtoMetric[], owner: string, taken: ReadonlyMap<string, string>, out: SparkplugOutcome, options: DecodeOptions, payload: Buffer, deviceId: string | null): { birth: Birth; owners: Map<string, string> } | null {
    const birth: Birth = { byAlias: new Map(), byName: new Map() }
    const owners = new Map<string, string>()
    const invalid = (detail: string) => {
      refuseMessage(out.decoded, options, payload, 'sparkplug_birth_invalid', detail, deviceId)
      return null
    }
    for (let i = 0; i < metrics.length; i++) {
      const m = metrics[i]!
      if (!has(m, 'name') || m.name === '' || m.name === undefined) return invalid(`metric ${i} of the birth has no name: a birth must name every metric`)
      if (!has(m, 'datatype') || m.datatype === undefined || m.datatype === 0 || m.datatype >= SPARKPLUG_DATATYPES.length) return invalid(`metric "${clip(m.name, 64)}" of the birth has ${has(m, 'datatype') ? `datatype ${m.datatype}, which Sparkplug B does not define` : 'no datatype'}`)
      const def: BirthMetric = { name: m.name, datatype: m.datatype }
      birth.byName.set(m.name, def)
      if (has(m, 'alias') && m.alias !== undefined) {
        const alias = longText(m.alias)
        def.alias = alias
        const clash = birth.byAlias.get(alias)
        if (clash) return invalid(`alias ${alias} is given to both "${clip(clash.name, 64)}" and "${clip(m.name, 64)}"`)
        const other = taken.get(alias)
        if (other !== undefined && other !== owner) return invalid(`alias ${alias} ("${clip(m.name, 64)}") is already ${other === '' ? 'the edge node\'s' : `device "${clip(other, 64)}"'s`}: aliases are unique within an edge node`)
        birth.byAlias.set(alias, def)
        owners.set(alias, owner)
      }
    }
    return { birth, owners }
  }

  /**
   * The message's metrics as readings of `device`: each resolved by name or
   * alias through the birth, its datatype checked, named by the mapping,
   * grouped by timestamp (a metric's own, else the payload's) into one
   * reading per instant for the reading rules.
   */
  private store(out: SparkplugOutcome, p: ProtoPayload, birth: Birth, device: LineDevice | undefined, edgeNode: string, deviceName: string | null, receivedAt: number, options: DecodeOptions, mapping: SparkplugMapping, messageTime: number, onUnknownAlias?: () => void): void {
    const rules = new ReadingValidator(out.decoded, receivedAt, options, true)
    const readings = new Map<number, Record<string, unknown>>()
    const deviceId = device?.id ?? null
    const watched = deviceId === null ? undefined : this.watched.get(deviceId)
    for (const m of p.metrics) {
      let def: BirthMetric | undefined
      if (has(m, 'name') && m.name !== undefined && m.name !== '') def = birth.byName.get(m.name)
      else if (has(m, 'alias') && m.alias !== undefined) def = birth.byAlias.get(longText(m.alias))
      if (!def) {
        const what = has(m, 'name') && m.name ? `metric "${clip(m.name, 64)}"` : has(m, 'alias') && m.alias !== undefined ? `alias ${longText(m.alias)}` : 'a metric with neither name nor alias'
        rules.reject('sparkplug_alias_unknown', `${what} is not in the last birth certificate of ${deviceName === null ? `edge node "${clip(edgeNode, 64)}"` : `device "${clip(deviceName, 64)}"`}: a rebirth was requested`, deviceId, { alias: m.alias === undefined ? undefined : longText(m.alias), name: m.name })
        onUnknownAlias?.()
        continue
      }
      if (def.name === 'bdSeq' || CONTROL_PREFIXES.some((prefix) => def!.name.startsWith(prefix))) {
        if (mapping.metric(def.name, edgeNode, deviceName) === undefined) {
          skipOne(out, 'control')
          continue
        }
      }
      if (has(m, 'datatype') && m.datatype !== 0 && m.datatype !== def.datatype) {
        rules.reject('sparkplug_datatype_mismatch', `"${clip(def.name, 64)}" was born ${SPARKPLUG_DATATYPES[def.datatype]}, this message sends it as ${SPARKPLUG_DATATYPES[m.datatype!] ?? `datatype ${m.datatype}`}`, deviceId, { name: def.name, datatype: m.datatype })
        continue
      }
      if (watched !== undefined && watched.has(def.name) && isNumeric(def.datatype) && m.isNull !== true && m.value === valueFieldOf(def.datatype)) {
        out.reported.push({ deviceId: deviceId!, metric: def.name, value: numericValue(def.datatype, m[m.value] as ProtoLong | boolean) })
      }
      if (!isNumeric(def.datatype)) {
        skipOne(out, 'datatype')
        continue
      }
      if (!device) {
        skipOne(out, 'node')
        continue
      }
      const mapped = catalogueName(def, mapping, edgeNode, deviceName, device.domain, options)
      if (mapped === null) {
        skipOne(out, 'unmapped')
        continue
      }
      let value: unknown
      if (m.isNull === true) {
        value = null
      } else {
        const field = m.value
        const expected = valueFieldOf(def.datatype)
        if (field === undefined) {
          value = null
        } else if (field !== expected && !(expected === 'intValue' && field === 'longValue') && !(expected === 'longValue' && field === 'intValue')) {
          rules.reject('sparkplug_datatype_mismatch', `"${clip(def.name, 64)}" is ${SPARKPLUG_DATATYPES[def.datatype]}, but its value came in ${field}`, deviceId, { name: def.name, field })
          continue
        } else {
          value = numericValue(def.datatype, m[field] as ProtoLong | boolean)
        }
      }
      const metric = mapped
      const time = has(m, 'timestamp') && m.timestamp !== undefined ? longNumber(m.timestamp) : messageTime
      let values = readings.get(time)
      if (!values) readings.set(time, (values = {}))
      values[metric] = value
    }
    if (!device || device.domain === null) return
    let index = 0
    for (const [ts, values] of readings) rules.accept({ ts, values }, readings.size === 1 ? -1 : index++, device.id, device.domain, 0)
    out.decoded.domain = device.domain
  }

  private requestRebirth(out: SparkplugOutcome, group: string, edgeNode: string, now: number, reason: string): void {
    if (out.rebirth) return
    const key = `${group}/${edgeNode}`
    const last = this.lastRebirth.get(key)
    if (last !== undefined && now - last < this.rebirthIntervalMs) return
    if (this.lastRebirth.size >= this.maxNodes) this.lastRebirth.delete(this.lastRebirth.keys().next().value!)
    this.lastRebirth.set(key, now)
    out.rebirth = { topic: `${SPARKPLUG_NAMESPACE}/${group}/NCMD/${edgeNode}`, payload: encodeSparkplug({ timestamp: now, metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }) }
    out.rebirthReason = reason
  }
}

/** A Sparkplug B payload encoded with tahu's codec (`type` names a datatype: Boolean, Double, ...). */
export function encodeSparkplug(payload: { timestamp?: number; seq?: number; metrics: { name?: string; alias?: number; type: string; value: unknown; timestamp?: number }[] }): Buffer {
  return Buffer.from(codec.encodePayload(payload))
}

/** The retained STATE message of Sparkplug 3.0 (`spBv1.0/STATE/<hostId>`, JSON, QoS 1). */
export function hostState(hostId: string, online: boolean, timestamp: number): { topic: string; payload: Buffer } {
  return { topic: `${SPARKPLUG_NAMESPACE}/STATE/${hostId}`, payload: Buffer.from(JSON.stringify({ online, timestamp })) }
}

/** Frees the aliases a device of the node held (its birth is gone or being replaced). */
/** Integer datatypes' ranges (Int64/UInt64 as far as a JavaScript number is exact). */
const INTEGER_RANGES: Readonly<Record<number, readonly [number, number]>> = {
  1: [-128, 127], 2: [-32_768, 32_767], 3: [-2_147_483_648, 2_147_483_647], 4: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  5: [0, 255], 6: [0, 65_535], 7: [0, 4_294_967_295], 8: [0, Number.MAX_SAFE_INTEGER],
}

/** `value` as a write to a metric of this datatype takes it, or why it cannot. */
function writable(datatype: number, value: unknown): number | boolean | string {
  if (datatype === 11) return typeof value === 'boolean' ? value : `a write needs true or false, got ${JSON.stringify(value)}`
  if (!isNumeric(datatype)) return 'gridline writes only numbers and booleans'
  const n = typeof value === 'boolean' ? (value ? 1 : 0) : value
  if (typeof n !== 'number' || !Number.isFinite(n)) return `a write needs a number, got ${JSON.stringify(value)}`
  const range = INTEGER_RANGES[datatype]
  if (range === undefined) return n
  if (!Number.isInteger(n)) return `${n} is not an integer`
  if (n < range[0] || n > range[1]) return `${n} is outside ${range[0]}..${range[1]}`
  return n
}

function releaseAliases(node: NodeState, device: string): void {
  for (const [alias, owner] of node.aliasOwners) if (owner === device) node.aliasOwners.delete(alias)
}

function bdSeqOf(p: ProtoPayload): string | null {
  for (const m of p.metrics) {
    if (m.name !== 'bdSeq') continue
    const field = m.value
    const v = field === undefined ? undefined : m[field]
    if (typeof v === 'number' || (typeof v === 'object' && v !== null && 'toNumber' in v)) return longText(v as ProtoLong)
  }
  return null
}

function numericValue(datatype: number, raw: ProtoLong | boolean): number | boolean {
  if (typeof raw === 'boolean') return raw
  switch (datatype) {
    case 1: return (longNumber(raw) << 24) >> 24
    case 2: return (longNumber(raw) << 16) >> 16
    case 3: return longNumber(raw) | 0
    case 4: return longNumber(raw, true)
    case 5: return longNumber(raw) & 0xff
    case 6: return longNumber(raw) & 0xffff
    case 7: return longNumber(raw) >>> 0
    default: return longNumber(raw)
  }
}

function snake(s: string): string {
  let out = s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '')
  if (!/^[a-z]/.test(out)) out = `m_${out}`
  return out.slice(0, 64)
}

function skipOne(out: SparkplugOutcome, why: string): void {
  out.skipped.set(why, (out.skipped.get(why) ?? 0) + 1)
}

/**
 * A birth metric's catalogue name (null: mapped to nothing): the mapping's,
 * else the default rule's; kept on the definition while the mapping, the
 * catalogue and the device's domain stay the same.
 */
function catalogueName(def: BirthMetric, mapping: SparkplugMapping, edgeNode: string, deviceName: string | null, domain: string | null, options: DecodeOptions): string | null {
  const named = def.named
  if (named !== undefined && named.mapping === mapping && named.catalogue === options.catalogue && named.domain === domain) return named.metric
  const mapped = mapping.metric(def.name, edgeNode, deviceName)
  const metric = mapped === undefined ? defaultMetricName(def.name, domain, options) : mapped
  def.named = { mapping, catalogue: options.catalogue, domain, metric }
  return metric
}

/**
 * The default catalogue name of a Sparkplug metric: the whole path in snake
 * case (`Inputs/Flow Rate` -> `inputs_flow_rate`) when the catalogue has it,
 * else its last level (`flow_rate`) when the catalogue has that, else the
 * whole path (the unknown-metric policy then applies).
 */
export function defaultMetricName(name: string, domain: string | null, options: DecodeOptions): string {
  const whole = snake(name)
  if (domain === null || options.catalogue.metric(domain, whole)) return whole
  const last = snake(name.slice(name.lastIndexOf('/') + 1))
  return options.catalogue.metric(domain, last) ? last : whole
}
