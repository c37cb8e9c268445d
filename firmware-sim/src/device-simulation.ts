import { type FaultCounters, type FaultRates, MALFORMED_VARIANTS, type MalformedVariant } from './faults.ts'
import { type CommandOutcome, DEVICE_KINDS, type DeviceKind, type SignalModel, type Values, createModel } from './models/index.ts'
import { Rng, hashString } from './random.ts'

/** What a device sends for one scheduled reading. */
export interface Emission {
  /** JSON payloads for `telemetry/{domain}/{id}`: none (dropout), one, or two (duplicate). */
  payloads: string[]
  /** Set when the device drops its connection now and stays away for this many readings (reconnect_burst). */
  disconnectForReadings?: number
}

/** Fault episodes in progress on one device; allocated only for devices that have had one. */
class FaultState {
  dropoutLeft = 0
  stuckLeft = 0
  stuckValues: Values | undefined
  skewLeft = 0
  skewMs = 0
}

/**
 * One device's readings, with faults, without any I/O: the unit-testable heart
 * of a simulated device. Two random streams per device (signal noise and faults)
 * keep the signal the same whether faults are on or off.
 */
export class DeviceSimulation {
  readonly domain: string
  readonly model: SignalModel
  /** The seq of the next reading; increases by one per reading taken, sent or not. */
  seq = 0
  private readonly signalRng: Rng
  private readonly faultRng: Rng
  private faults: FaultState | undefined

  constructor(
    readonly id: string,
    readonly kind: DeviceKind,
    seed: number,
    private readonly rates: FaultRates = {},
    private readonly counters?: FaultCounters,
  ) {
    this.domain = DEVICE_KINDS[kind].domain
    this.model = createModel(kind, id, seed)
    const deviceSeed = hashString(id) ^ seed
    this.signalRng = new Rng(deviceSeed)
    this.faultRng = new Rng(deviceSeed ^ 0x9e3779b9)
  }

  command(action: string, params: Record<string, unknown>): CommandOutcome {
    return this.model.command(action, params)
  }

  /**
   * The reading at simulated time `simMs`. `simIntervalMs` is the simulated time
   * between two readings, which sets how long fault episodes last.
   */
  next(simMs: number, simIntervalMs: number): Emission {
    const r = this.rates
    const rng = this.faultRng
    if (this.model.failLamp && rng.chance(r.lamp_failure ?? 0)) {
      this.model.failLamp()
      this.count('lamp_failure')
    }
    if (this.model.startBurst && rng.chance(r.burst ?? 0)) {
      this.model.startBurst(simMs + rng.int(30, 120) * simIntervalMs)
      this.count('burst')
    }
    const seq = this.seq++
    let values = this.model.read(simMs, this.signalRng)
    const f = this.faults

    if (f && f.dropoutLeft > 0) {
      f.dropoutLeft--
      this.touch('dropout')
      return { payloads: [] }
    }
    if (rng.chance(r.dropout ?? 0)) {
      this.state().dropoutLeft = rng.int(2, 20)
      this.count('dropout')
      return { payloads: [] }
    }

    if (f && f.stuckLeft > 0 && f.stuckValues) {
      f.stuckLeft--
      values = f.stuckValues
      this.touch('stuck')
    } else if (rng.chance(r.stuck ?? 0)) {
      const s = this.state()
      s.stuckLeft = rng.int(5, 60)
      s.stuckValues = values
      this.count('stuck')
    }

    if (rng.chance(r.spike ?? 0)) {
      values = this.spike(values)
      this.count('spike')
    }

    let ts = simMs
    if (f && f.skewLeft > 0) {
      f.skewLeft--
      ts += f.skewMs
      this.touch('clock_skew')
    } else if (rng.chance(r.clock_skew ?? 0)) {
      const s = this.state()
      s.skewLeft = rng.int(20, 200)
      // From half a minute to twenty minutes either way: past the ingest's 5-minute future limit now and then.
      s.skewMs = Math.round((rng.next() < 0.5 ? -1 : 1) * (30_000 + rng.next() * 1_170_000))
      ts += s.skewMs
      this.count('clock_skew')
    }

    let payload: string
    if (rng.chance(r.malformed ?? 0)) {
      const variant = MALFORMED_VARIANTS[rng.int(0, MALFORMED_VARIANTS.length - 1)]!
      payload = malformedPayload(variant, ts, seq, values)
      this.count('malformed')
      if (this.counters) this.counters.malformed[variant]++
    } else {
      payload = JSON.stringify({ ts, seq, values })
    }

    const emission: Emission = { payloads: [payload] }
    if (rng.chance(r.duplicate ?? 0)) {
      emission.payloads.push(payload)
      this.count('duplicate')
    }
    if (rng.chance(r.reconnect_burst ?? 0)) {
      emission.disconnectForReadings = rng.int(3, 30)
      this.count('reconnect_burst')
    }
    return emission
  }

  private spike(values: Values): Values {
    const numeric = Object.keys(values).filter((k) => typeof values[k] === 'number')
    if (numeric.length === 0) return values
    const metric = numeric[this.faultRng.int(0, numeric.length - 1)]!
    const v = values[metric] as number
    const factor = 5 + this.faultRng.next() * 15
    return { ...values, [metric]: Math.round((Math.abs(v) * factor + factor * 10) * 10) / 10 }
  }

  private state(): FaultState {
    this.faults ??= new FaultState()
    return this.faults
  }

  private count(kind: keyof FaultCounters['started']): void {
    if (!this.counters) return
    this.counters.started[kind]++
    this.counters.readings[kind]++
  }

  private touch(kind: keyof FaultCounters['started']): void {
    if (this.counters) this.counters.readings[kind]++
  }
}

/** A payload the ingest service refuses with the reason `variant` (docs/errors.md). */
export function malformedPayload(variant: MalformedVariant, ts: number, seq: number, values: Values): string {
  const first = Object.keys(values)[0] ?? 'value'
  switch (variant) {
    case 'json_malformed':
      // What a firmware printing a float without checking produces; NaN is not JSON.
      return `{"ts":${ts},"seq":${seq},"values":{"${first}":NaN}}`
    case 'value_invalid':
      return JSON.stringify({ ts, seq, values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, String(v)])) })
    case 'ts_invalid':
      // A local time without its offset.
      return JSON.stringify({ ts: new Date(ts + 7 * 3_600_000).toISOString().slice(0, 19), seq, values })
    case 'reading_unknown_field':
      return JSON.stringify({ ts, seq, values, firmware: '1.4.2' })
    case 'values_empty':
      return JSON.stringify({ ts, seq, values: {} })
    case 'payload_not_object':
      return JSON.stringify(Object.values(values)[0] ?? 0)
  }
}
