import { decodeMessage } from '@gridline/processors'
import { defaultCatalogue } from '@gridline/schemas'
import { describe, expect, test } from 'vitest'
import { DeviceSimulation, malformedPayload, FaultCounters, MALFORMED_VARIANTS, parseFaultRates } from '@gridline/firmware-sim'

const NOON = Date.UTC(2026, 10, 25, 5) // 12:00 in Da Nang
const MINUTE = 60_000

function run(sim: DeviceSimulation, n: number, start = NOON) {
  return Array.from({ length: n }, (_, i) => sim.next(start + i * MINUTE, MINUTE))
}
const parse = (payload: string) => JSON.parse(payload) as { ts: number; seq: number; values: Record<string, number | boolean> }

describe('faults', () => {
  test('a burst makes pressure fall and flow rise', () => {
    const counters = new FaultCounters()
    const healthy = run(new DeviceSimulation('main-1', 'water_main', 5), 1).map((e) => parse(e.payloads[0]!).values)[0]!
    const bursting = new DeviceSimulation('main-1', 'water_main', 5, { burst: 1 }, counters)
    const values = parse(run(bursting, 1)[0]!.payloads[0]!).values
    expect(values.pressure as number).toBeLessThan((healthy.pressure as number) * 0.6)
    expect(values.flow as number).toBeGreaterThan((healthy.flow as number) * 1.5)
    expect(counters.started.burst).toBe(1)
  })

  test('a failed lamp reports the fault and draws no power while switched on', () => {
    const counters = new FaultCounters()
    const sim = new DeviceSimulation('lamp-1', 'street_light', 5, { lamp_failure: 1 }, counters)
    const values = parse(sim.next(NOON + 10 * 3_600_000, MINUTE).payloads[0]!).values
    expect(values).toMatchObject({ lamp_on: true, lamp_fault: true, power: 0 })
    expect(counters.started.lamp_failure).toBe(1)
  })

  test('stuck values repeat while time and seq move on', () => {
    const sim = new DeviceSimulation('aq-1', 'air_quality', 5, { stuck: 1 })
    const readings = run(sim, 4).map((e) => parse(e.payloads[0]!))
    expect(readings.map((r) => r.values)).toEqual(Array(4).fill(readings[0]!.values))
    expect(readings.map((r) => r.seq)).toEqual([0, 1, 2, 3])
    expect(new Set(readings.map((r) => r.ts)).size).toBe(4)
  })

  test('a dropout skips readings but seq keeps counting (the gap shows at the ingest)', () => {
    const counters = new FaultCounters()
    const sim = new DeviceSimulation('aq-1', 'air_quality', 5, { dropout: 0.2 }, counters)
    const emissions = run(sim, 200)
    const sent = emissions.filter((e) => e.payloads.length > 0)
    expect(sent.length).toBeLessThan(200)
    expect(200 - sent.length).toBe(counters.readings.dropout)
    expect(counters.started.dropout).toBeGreaterThan(0)
    expect(parse(sent.at(-1)!.payloads[0]!).seq).toBe(199 - emissions.slice().reverse().findIndex((e) => e.payloads.length > 0))
  })

  test('spikes, duplicates, clock skew and reconnect bursts are counted', () => {
    const counters = new FaultCounters()
    const healthy = run(new DeviceSimulation('traffic-1', 'traffic_counter', 5), 50)
    const faulty = run(new DeviceSimulation('traffic-1', 'traffic_counter', 5, { spike: 0.1, duplicate: 0.1, clock_skew: 0.05, reconnect_burst: 0.05 }, counters), 50)
    expect(counters.started.spike).toBeGreaterThan(0)
    expect(faulty.filter((e) => e.payloads.length === 2).length).toBe(counters.started.duplicate)
    expect(faulty.filter((e) => e.disconnectForReadings !== undefined).length).toBe(counters.started.reconnect_burst)
    const skewed = faulty.filter((e, i) => parse(e.payloads[0]!).ts !== parse(healthy[i]!.payloads[0]!).ts).length
    expect(skewed).toBe(counters.readings.clock_skew)
    expect(skewed).toBeGreaterThan(0)
  })

  test('the signal is the same with faults on or off', () => {
    const plain = run(new DeviceSimulation('aq-9', 'air_quality', 8), 30).map((e) => e.payloads[0])
    const withDuplicates = run(new DeviceSimulation('aq-9', 'air_quality', 8, { duplicate: 0.5 }), 30).map((e) => e.payloads[0])
    expect(withDuplicates).toEqual(plain)
  })

  test.each(MALFORMED_VARIANTS)('a %s payload is refused by the ingest decoder with that reason', (variant) => {
    const payload = malformedPayload(variant, Date.now(), 3, { pm25: 12.5, pm10: 20 })
    const decoded = decodeMessage('telemetry/environment/aq-1', Buffer.from(payload), Date.now(), null, {
      catalogue: defaultCatalogue(), maxFutureSkewMs: 300_000, minTimestampMs: Date.UTC(2000, 0, 1), rejectedPayloadMaxBytes: 4096,
    })
    expect(decoded.rows.length).toBe(0)
    expect(decoded.rejections.map((r) => r.reason)).toContain(variant)
  })

  test('malformed payloads are counted by variant', () => {
    const counters = new FaultCounters()
    run(new DeviceSimulation('aq-1', 'air_quality', 5, { malformed: 1 }, counters), 60)
    expect(counters.started.malformed).toBe(60)
    expect(Object.values(counters.malformed).reduce((a, b) => a + b, 0)).toBe(60)
  })
})

describe('parseFaultRates', () => {
  test('reads names, rates, all and none', () => {
    expect(parseFaultRates('dropout=0.01, spike=0.2')).toEqual({ dropout: 0.01, spike: 0.2 })
    expect(Object.keys(parseFaultRates('all'))).toHaveLength(9)
    expect(parseFaultRates('all=0.5').burst).toBe(0.5)
    expect(parseFaultRates('none')).toEqual({})
  })

  test.each(['melt=0.1', 'spike=2', 'spike=x'])('refuses %s with a clear message', (spec) => {
    expect(() => parseFaultRates(spec)).toThrow(/fault|rate/i)
  })
})

test('readings are reproducible from the seed', () => {
  const a = run(new DeviceSimulation('pump-3', 'pump', 11, { spike: 0.1, stuck: 0.05 }), 40)
  const b = run(new DeviceSimulation('pump-3', 'pump', 11, { spike: 0.1, stuck: 0.05 }), 40)
  expect(a).toEqual(b)
})
