import { type Envelope, type Rejection, Rows, type Sink } from '@gridline/core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

/** One telemetry row as a store keeps it, for the suite to compare. */
export interface StoredRow {
  deviceId: string
  metric: string
  /** Epoch ms. */
  time: number
  value: number
  quality: number
  /** null when the reading had none. */
  seq: number | null
}

export interface SinkUnderTest {
  sink: Sink
  /** Every telemetry row the store holds for `deviceId`, in any order. */
  stored(deviceId: string): Promise<StoredRow[]>
  /** Dead letters the store holds for `deviceId` (primary sinks), by reason. */
  deadLetters?(deviceId: string): Promise<string[]>
  /**
   * Makes the store refuse rows whose value is `value` for their data (a
   * constraint), so the suite can check that one bad message is isolated;
   * resolves with a function that undoes it. Primary sinks only.
   */
  refuseValue?(value: number): Promise<() => Promise<void>>
  cleanup(): Promise<void>
}

/**
 * The behaviour every Sink must show, run by each sink's own test file
 * (aedes-persistence's `abstract.js` idea): `sinkConformance('timescale', make)`.
 * `make` is called once; each test uses its own device ids, so tests do not
 * see each other's rows. Options: `primary` for sinks that keep dead letters
 * and status (the timescale sink); `overwrites` for stores that keep the last
 * write of a point and cannot tell a duplicate from a new row (InfluxDB):
 * they must still store a point once, but count what they wrote as inserted.
 */
export function sinkConformance(name: string, make: () => Promise<SinkUnderTest>, options: { primary?: boolean; overwrites?: boolean } = {}): void {
  describe(`sink conformance: ${name}`, () => {
    let s: SinkUnderTest
    beforeAll(async () => {
      s = await make()
      await s.sink.start?.()
    })
    afterAll(async () => {
      await s?.sink.close()
      await s?.cleanup()
    })

    test('has an id and a type, and is healthy while its store is up', async () => {
      expect(s.sink.id).toMatch(/^[a-z][a-z0-9_-]*$/)
      expect(s.sink.type).toMatch(/^[a-z][a-z0-9_]*$/)
      expect(await s.sink.healthcheck()).toBe(true)
    })

    test('a written batch is stored exactly, value for value, and counted as inserted', async () => {
      const batch = [
        envelope('conf-a', [[T0, 'pm25', 12.5, 0, 1], [T0, 'pm10', 20, 0, 1]]),
        envelope('conf-a', [[T0 + 1_000, 'pm25', 0, 1, 2], [T0 + 1_000, 'pm10', 1e15, 1, 2]]),
        envelope('conf-a', [[T0 + 2_000, 'pm25', 0.000123, 4, -1]]),
      ]
      const result = await s.sink.write(batch)
      expect(result.inserted).toBe(5)
      expect(result.duplicates).toBe(0)
      expect(result.deadLettered).toEqual([])
      expect(sorted(await s.stored('conf-a'))).toEqual(sorted([
        { deviceId: 'conf-a', metric: 'pm25', time: T0, value: 12.5, quality: 0, seq: 1 },
        { deviceId: 'conf-a', metric: 'pm10', time: T0, value: 20, quality: 0, seq: 1 },
        { deviceId: 'conf-a', metric: 'pm25', time: T0 + 1_000, value: 0, quality: 1, seq: 2 },
        { deviceId: 'conf-a', metric: 'pm10', time: T0 + 1_000, value: 1e15, quality: 1, seq: 2 },
        { deviceId: 'conf-a', metric: 'pm25', time: T0 + 2_000, value: 0.000123, quality: 4, seq: null },
      ]))
    })

    test('a batch written again (a retry after an unknown outcome, a redelivery) is not stored twice', async () => {
      const batch = [envelope('conf-b', [[T0, 'pm25', 1, 0, 10]]), envelope('conf-b', [[T0 + 1, 'pm25', 2, 0, 11]])]
      await s.sink.write(batch)
      const again = await s.sink.write([envelope('conf-b', [[T0, 'pm25', 1, 0, 10]]), envelope('conf-b', [[T0 + 1, 'pm25', 2, 0, 11]]), envelope('conf-b', [[T0 + 2, 'pm25', 3, 0, 12]])])
      if (options.overwrites) {
        expect(again.inserted + again.duplicates).toBe(3)
      } else {
        expect(again.inserted).toBe(1)
        expect(again.duplicates).toBe(2)
      }
      expect(await s.stored('conf-b')).toHaveLength(3)
    })

    test('concurrent writes of different batches are all stored', async () => {
      const batches = Array.from({ length: 4 }, (_, b) => Array.from({ length: 50 }, (_, i) => envelope('conf-c', [[T0 + b * 1_000 + i, 'pm25', i, 0, b * 1_000 + i]])))
      const results = await Promise.all(batches.map((batch) => s.sink.write(batch)))
      expect(results.reduce((n, r) => n + r.inserted, 0)).toBe(200)
      expect(await s.stored('conf-c')).toHaveLength(200)
    })

    test('envelopes without telemetry rows (only refusals) and an empty batch are written without error', async () => {
      expect((await s.sink.write([])).inserted).toBe(0)
      const refusal = envelope('conf-d', [], [{ reason: 'value_invalid', detail: 'pm25 is not finite', deviceId: 'conf-d', payload: Buffer.from('{"pm25":"NaN"}'), payloadBytes: 14 }])
      const result = await s.sink.write([refusal, envelope('conf-d', [[T0, 'pm25', 7, 0, 1]])])
      expect(result.inserted).toBe(1)
      if (options.primary) {
        expect(result.rejected.get('value_invalid')).toBe(1)
        expect(await s.deadLetters!('conf-d')).toEqual(['value_invalid'])
      }
    })

    if (options.primary) {
      test('a message the store refuses for its data is dead-lettered whole and named; the rest of the batch is stored', async () => {
        const undo = await s.refuseValue!(-42)
        try {
          const bad = envelope('conf-e', [[T0 + 2, 'pm25', -42, 0, 3]])
          const result = await s.sink.write([envelope('conf-e', [[T0, 'pm25', 1, 0, 1]]), envelope('conf-e', [[T0 + 1, 'pm25', 2, 0, 2]]), bad, envelope('conf-e', [[T0 + 3, 'pm25', 4, 0, 4]])])
          expect(result.deadLettered).toEqual([bad])
          expect(result.inserted).toBe(3)
          expect(await s.stored('conf-e')).toHaveLength(3)
          expect(await s.deadLetters!('conf-e')).toEqual(['storage_rejected'])
        } finally {
          await undo()
        }
      })
    }
  })
}

const T0 = Date.parse('2026-11-01T00:00:00Z')

/** An envelope for `deviceId` with rows [time, metric, value, quality, seq]. */
function envelope(deviceId: string, rows: [number, string, number, number, number][], rejections: Rejection[] = []): Envelope {
  const r = new Rows()
  for (const [time, metric, value, quality, seq] of rows) r.push(time, deviceId, metric, value, quality, seq, 0)
  const payload = Buffer.from(JSON.stringify({ device: deviceId, rows }))
  return {
    source: 'conformance',
    topic: `telemetry/environment/${deviceId}`,
    clientId: deviceId,
    principal: { kind: 'device', id: deviceId, domain: 'environment' },
    receivedAt: Date.now(),
    payload,
    decoded: { rows: r, readings: new Set(rows.map((x) => x[0])).size, rejections, unknownMetrics: 0, outOfRange: 0, domain: 'environment' },
    ack: null,
  }
}

function sorted(rows: StoredRow[]): StoredRow[] {
  return [...rows].sort((a, b) => a.time - b.time || a.metric.localeCompare(b.metric))
}
