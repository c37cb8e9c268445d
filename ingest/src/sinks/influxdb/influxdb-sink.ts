import { InfluxDB, type WriteApi } from '@influxdata/influxdb-client'
import { type Envelope, ROW_STRIDE, type SinkWriteResult, emptyWriteResult } from '@gridline/core'
import type { EncodingSink } from '../../pipeline/disk-buffered-sink.ts'
import type { InfluxDbSinkConfig } from './config.ts'

/**
 * Writes committed readings to InfluxDB, one point per row:
 *
 *     <metric>,device=<id>,domain=<domain> value=<float>,quality=<q>i[,seq=<n>i] <epoch ms>
 *
 * The measurement is the metric (so Grafana's query builder lists pm25,
 * flow, ...), the device and domain are tags, the value is always a float
 * (InfluxDB refuses a field that changes type), quality and seq are integer
 * fields. A point written again is the same point (InfluxDB keeps the last
 * write of a series and time), so a retried batch is stored once.
 *
 * 2.x through @influxdata/influxdb-client with its own retries off (the
 * disk buffer in front retries, with backoff); 1.x by POST /write. A 400 (a
 * point InfluxDB refuses for good) is not retried: its rows are counted as
 * refused. Anything else that fails throws, and is retried.
 */
export class InfluxDbSink implements EncodingSink {
  readonly type = 'influxdb'
  private readonly v2: WriteApi | undefined
  private readonly v1Url: string | undefined
  private readonly headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8' }
  /** `<metric>,device=<id>,domain=<d> value=` by device and metric: most of a line, escaped once. */
  private readonly prefixes = new Map<string, string>()

  constructor(
    readonly id: string,
    private readonly config: InfluxDbSinkConfig,
    /** The domain of a device whose envelope does not say it (gateway batches); undefined leaves the tag off. */
    private readonly domainOf: (deviceId: string) => string | undefined = () => undefined,
  ) {
    if (config.version === 2) {
      this.v2 = new InfluxDB({ url: config.url, token: config.token!, timeout: config.timeoutMs })
        // A batch is at most the buffer's batches of up to maxBatchRows rows each: the client never splits or sends on its own.
        .getWriteApi(config.org!, config.bucket!, 'ms', { maxRetries: 0, batchSize: config.maxBatchRows * 64, flushInterval: 0, maxBufferLines: config.maxBatchRows * 64, gzipThreshold: 64 * 1024 })
    } else {
      const url = new URL('/write', config.url)
      url.searchParams.set('db', config.db!)
      if (config.rp) url.searchParams.set('rp', config.rp)
      url.searchParams.set('precision', 'ms')
      this.v1Url = url.toString()
      if (config.username && config.password) this.headers.Authorization = `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`
    }
  }

  async write(batch: readonly Envelope[]): Promise<SinkWriteResult> {
    const payload = this.encode(batch)
    if (payload === null) return emptyWriteResult()
    let rows = 0
    for (const e of batch) rows += e.decoded.rows.length
    return this.writeEncoded([Buffer.from(payload)], rows)
  }

  /** The batch as line protocol, one point per row (the disk buffer keeps this, so it is made once). */
  encode(batch: readonly Envelope[]): string | null {
    const lines: string[] = []
    for (const e of batch) this.lines(e, lines)
    return lines.length === 0 ? null : lines.join('\n')
  }

  async writeEncoded(payloads: readonly Buffer[], rows: number): Promise<SinkWriteResult> {
    const result = emptyWriteResult()
    if (payloads.length === 0 || rows === 0) return result
    if (this.v2) {
      try {
        // Each payload is many lines; the client joins its records with newlines.
        this.v2.writeRecords(payloads.map((p) => p.toString('utf8')))
        await this.v2.flush(true)
      } catch (err) {
        if (statusOf(err) === 400) {
          result.refusedRows = rows
          return result
        }
        throw err
      }
    } else {
      const body = payloads.length === 1 ? payloads[0]! : Buffer.concat(payloads.flatMap((p, i) => (i === 0 ? [p] : [NEWLINE, p])))
      const res = await fetch(this.v1Url!, { method: 'POST', headers: this.headers, body, signal: AbortSignal.timeout(this.config.timeoutMs) })
      if (res.status === 400) {
        // A partial write: InfluxDB stored the rest and says how many it dropped.
        const text = await res.text()
        const dropped = Math.min(rows, Number(/dropped=(\d+)/.exec(text)?.[1] ?? rows))
        result.inserted = rows - dropped
        result.refusedRows = dropped
        return result
      }
      if (res.status !== 204 && res.status !== 200) throw new Error(`InfluxDB answered ${res.status}: ${(await res.text()).slice(0, 300)}`)
      await res.body?.cancel()
    }
    result.inserted = rows
    return result
  }

  /** Forgets the line prefixes made so far: call when the registry changes, since they hold devices' domains. */
  forgetDomains(): void {
    this.prefixes.clear()
  }

  async healthcheck(): Promise<boolean> {
    try {
      const res = await fetch(new URL('/ping', this.config.url), { signal: AbortSignal.timeout(2_000) })
      return res.status === 204 || res.status === 200
    } catch {
      return false
    }
  }

  async close(): Promise<void> {
    await this.v2?.close().catch(() => undefined)
  }

  private lines(e: Envelope, out: string[]): void {
    const data = e.decoded.rows.data
    const domain = e.decoded.domain
    for (let i = 0; i < data.length; i += ROW_STRIDE) {
      const device = data[i + 1] as string
      const metric = data[i + 2] as string
      const key = `${device}\u0000${metric}\u0000${domain ?? ''}`
      let prefix = this.prefixes.get(key)
      if (prefix === undefined) {
        const dom = domain ?? this.domainOf(device)
        prefix = `${escapeKey(metric)},device=${escapeKey(device)}${dom ? `,domain=${escapeKey(dom)}` : ''} value=`
        // Bounded: a city's devices times their metrics, cleared if ever far past that.
        if (this.prefixes.size >= 200_000) this.prefixes.clear()
        this.prefixes.set(key, prefix)
      }
      const seq = data[i + 5] as number
      out.push(`${prefix}${floatText(data[i + 3] as number)},quality=${data[i + 4] as number}i${seq >= 0 ? `,seq=${seq}i` : ''} ${data[i] as number}`)
    }
  }
}

/** Measurement names, tag keys and values: commas, spaces and equals signs escaped. */
function escapeKey(s: string): string {
  return /[, =\\]/.test(s) ? s.replace(/([, =\\])/g, '\\$1') : s
}

/** A float in line protocol (never an integer literal, so the field's type never changes). */
function floatText(v: number): string {
  return Number.isInteger(v) && Math.abs(v) < 1e21 ? `${v}.0` : String(v)
}

const NEWLINE = Buffer.from('\n')

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode: number }).statusCode : undefined
}
