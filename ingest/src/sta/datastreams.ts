import type { Logger } from '@gridline/core'
import { type IndicatorEvent, ROW_STRIDE } from '@gridline/processors'
import type pg from 'pg'
import type { Envelope } from '../pipeline/envelope.ts'

interface Seen { first: number; last: number; dirty: boolean }

/**
 * Keeps `sta_datastreams` up to date without reading telemetry: every
 * committed batch is walked once (a map lookup per row), indicator events
 * likewise, and what changed is written every `flushMs` in two statements.
 * Lifecycle: `start` once (loads what is known), `stop` once (a last flush).
 */
export class DatastreamTracker {
  private readonly telemetry = new Map<string, Map<string, Seen>>()
  private readonly indicators = new Map<string, Seen>()
  private readonly fresh = new Set<Seen>()
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> | undefined
  failures = 0

  constructor(private readonly pool: pg.Pool, private readonly flushMs: number, private readonly logger: Logger) {}

  async start(): Promise<void> {
    const { rows } = await this.pool.query<{ device_id: string | null; metric: string | null; indicator: string | null; scope: string | null; key: string | null; first: number; last: number }>(
      `SELECT device_id, metric, indicator, scope, key, extract(epoch FROM first_time) * 1000 AS first, extract(epoch FROM last_time) * 1000 AS last FROM sta_datastreams`)
    for (const r of rows) {
      const seen = { first: Number(r.first), last: Number(r.last), dirty: false }
      if (r.device_id !== null) this.byDevice(r.device_id).set(r.metric!, seen)
      else this.indicators.set(`${r.indicator}\u0000${r.scope}\u0000${r.key}`, seen)
    }
    this.timer = setInterval(() => void this.flush(), this.flushMs)
    this.timer.unref()
  }

  private byDevice(device: string): Map<string, Seen> {
    let m = this.telemetry.get(device)
    if (!m) this.telemetry.set(device, (m = new Map()))
    return m
  }

  /** After a commit (the pipeline's onCommitted): never throws, never awaits. */
  onCommitted(batch: readonly Envelope[]): void {
    for (const envelope of batch) {
      const data = envelope.decoded.rows.data
      let device = ''
      let metrics: Map<string, Seen> | undefined
      for (let i = 0; i < data.length; i += ROW_STRIDE) {
        const d = data[i + 1] as string
        if (d !== device) { device = d; metrics = this.byDevice(d) }
        const metric = data[i + 2] as string
        const time = data[i] as number
        const seen = metrics!.get(metric)
        if (!seen) {
          const s = { first: time, last: time, dirty: true }
          metrics!.set(metric, s)
          this.fresh.add(s)
        } else if (time > seen.last || time < seen.first) {
          if (time > seen.last) seen.last = time
          else seen.first = time
          seen.dirty = true
        }
      }
    }
  }

  onIndicator(event: IndicatorEvent): void {
    const k = `${event.name}\u0000${event.scope}\u0000${event.key}`
    const seen = this.indicators.get(k)
    if (!seen) {
      const s = { first: event.time, last: event.time, dirty: true }
      this.indicators.set(k, s)
      this.fresh.add(s)
    } else if (event.time > seen.last || event.time < seen.first) {
      seen.last = Math.max(seen.last, event.time)
      seen.first = Math.min(seen.first, event.time)
      seen.dirty = true
    }
  }

  /** Writes what changed since the last flush (new Datastreams first: their ids come in the order they were seen). */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => { this.flushing = undefined })
    return this.flushing
  }

  private async write(): Promise<void> {
    const cols = { device: [] as string[], metric: [] as string[], first: [] as string[], last: [] as string[] }
    const ind = { name: [] as string[], scope: [] as string[], key: [] as string[], first: [] as string[], last: [] as string[] }
    const taken: Seen[] = []
    for (const [device, metrics] of this.telemetry) {
      for (const [metric, seen] of metrics) {
        if (!seen.dirty) continue
        seen.dirty = false
        taken.push(seen)
        cols.device.push(device); cols.metric.push(metric)
        cols.first.push(new Date(seen.first).toISOString()); cols.last.push(new Date(seen.last).toISOString())
      }
    }
    for (const [k, seen] of this.indicators) {
      if (!seen.dirty) continue
      seen.dirty = false
      taken.push(seen)
      const [name, scope, key] = k.split('\u0000') as [string, string, string]
      ind.name.push(name); ind.scope.push(scope); ind.key.push(key)
      ind.first.push(new Date(seen.first).toISOString()); ind.last.push(new Date(seen.last).toISOString())
    }
    if (taken.length === 0) return
    try {
      if (cols.device.length > 0) {
        // Existing rows are updated (ids stay dense: no sequence value is spent on a conflict), new ones inserted.
        await this.pool.query(`WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS v(device_id, metric, first_time, last_time)),
          u AS (UPDATE sta_datastreams s SET first_time = least(s.first_time, v.first_time), last_time = greatest(s.last_time, v.last_time)
                  FROM v WHERE s.device_id = v.device_id AND s.metric = v.metric RETURNING s.device_id, s.metric)
          INSERT INTO sta_datastreams (device_id, metric, first_time, last_time)
          SELECT v.* FROM v WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.device_id = v.device_id AND u.metric = v.metric)
          ON CONFLICT (device_id, metric) WHERE device_id IS NOT NULL DO NOTHING`, [cols.device, cols.metric, cols.first, cols.last])
      }
      if (ind.name.length > 0) {
        await this.pool.query(`WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS v(indicator, scope, key, first_time, last_time)),
          u AS (UPDATE sta_datastreams s SET first_time = least(s.first_time, v.first_time), last_time = greatest(s.last_time, v.last_time)
                  FROM v WHERE s.indicator = v.indicator AND s.scope = v.scope AND s.key = v.key RETURNING s.indicator, s.scope, s.key)
          INSERT INTO sta_datastreams (indicator, scope, key, first_time, last_time)
          SELECT v.* FROM v WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.indicator = v.indicator AND u.scope = v.scope AND u.key = v.key)
          ON CONFLICT (indicator, scope, key) WHERE indicator IS NOT NULL DO NOTHING`, [ind.name, ind.scope, ind.key, ind.first, ind.last])
      }
      for (const s of taken) this.fresh.delete(s)
    } catch (err) {
      // Written again at the next flush.
      for (const s of taken) s.dirty = true
      this.failures++
      this.logger.warn({ err }, 'Writing the SensorThings Datastreams failed; it is tried again at the next flush.')
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }
}
