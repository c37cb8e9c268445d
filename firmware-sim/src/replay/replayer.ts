import { type DeviceIdentity, SimulatedDevice } from '../device.ts'
import { SimStats } from '../stats.ts'
import { type LoadedDataset, mergeFiles } from './dataset.ts'

export interface ReplayOptions {
  url: string
  dataset: LoadedDataset
  /** 1 replays at the recorded pace, 60 an hour per minute. Ignored when asFastAsPossible. */
  speed?: number
  asFastAsPossible?: boolean
  /**
   * Stamp readings in the present. Paced, the first row lands now and the
   * recording's time runs at `speed` (and under `maxGapMs`) like its publishing
   * does: a reading is stamped with the moment it is due, never after it is
   * published. As fast as possible, one offset puts the last row now.
   */
  shiftToNow?: boolean
  /** Longest real wait between two rows (caps recorded outages); none by default. */
  maxGapMs?: number
  qos?: 0 | 1
  /** Device id to password; devices not in it connect without a login. */
  passwords?: ReadonlyMap<string, string>
  /** QoS 1 messages awaiting their PUBACK before the replay waits (default 1,000). */
  maxInFlight?: number
  connectRatePerS?: number
  /** How long to listen for refusal notices (rejections/{domain}/{deviceId}) after the last acknowledgement; 500 ms by default. */
  noticeGraceMs?: number
  /** Called after each row is handed over (progress reports). */
  onRow?: (sent: number, ts: number) => void
}

export interface ReplayResult {
  rowsSent: number
  readingsSent: number
  /** Offset added to the first recorded timestamp (0 unless shiftToNow); paced at a speed other than 1 later rows are compressed by the speed. */
  shiftMs: number
  firstTs: number | undefined
  lastTs: number | undefined
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

class ReplayedDevice implements DeviceIdentity {
  constructor(readonly id: string, readonly domain: string) {}
  command() {
    return { status: 'rejected' as const, detail: 'A replayed device plays back a recording and takes no commands.' }
  }
}

/**
 * Publishes a loaded data set as device telemetry: one MQTT connection per
 * device of the data set (with its status and last will, like a simulated
 * device), each reading `{ts, seq, values}` with the recorded time, in the
 * order and at the pace of the recording.
 */
export class Replayer {
  readonly stats = new SimStats()
  readonly devices: SimulatedDevice[]
  private stopped = false

  constructor(private readonly options: ReplayOptions) {
    this.devices = options.dataset.devices.map((d) => new SimulatedDevice(new ReplayedDevice(d.id, d.domain), {
      url: options.url,
      username: options.passwords?.has(d.id) ? d.id : undefined,
      password: options.passwords?.get(d.id),
      qos: options.qos ?? 1,
      bufferSize: 1_000,
      reconnectMinMs: 500,
      reconnectMaxMs: 10_000,
      keepaliveS: 60,
    }, this.stats))
  }

  private get inFlight(): number {
    return this.stats.published - this.stats.acknowledged - this.stats.errors - this.stats.requeued
  }

  /** Connects every device, replays every row, waits for the acknowledgements, disconnects. */
  async run(connectTimeoutMs = 60_000): Promise<ReplayResult> {
    const { dataset, speed = 1, asFastAsPossible = false, maxInFlight = 1_000 } = this.options
    const rows = [...mergeFiles(dataset.files)]
    const result: ReplayResult = { rowsSent: 0, readingsSent: 0, shiftMs: 0, firstTs: rows[0]?.ts, lastTs: undefined }
    try {
      await this.connectAll(connectTimeoutMs)
      if (this.options.shiftToNow && rows.length) {
        const anchor = asFastAsPossible ? rows.reduce((max, r) => Math.max(max, r.ts), -Infinity) : rows[0]!.ts
        result.shiftMs = Date.now() - anchor
      }
      const seqs = new Array<number>(this.devices.length).fill(0)
      const realStart = Date.now()
      let virtualMs = 0
      let pacedTs = rows[0]?.ts ?? 0
      // Paced with shiftToNow, a reading is stamped with its due time on the replay's clock
      // (realStart + the recording's elapsed time / speed), which is when it is published:
      // one offset for all would put every row after the first ahead of the clock by
      // (elapsed - elapsed / speed), at --speed 300 past the service's 5-minute future limit.
      const paceStamps = this.options.shiftToNow === true && !asFastAsPossible
      if (paceStamps) result.shiftMs = realStart - (rows[0]?.ts ?? realStart)
      for (const row of rows) {
        if (this.stopped) break
        let ts = row.ts + result.shiftMs
        if (!asFastAsPossible) {
          // Out-of-order rows go at once; the clock never runs backwards.
          const gap = Math.max(0, row.ts - pacedTs)
          virtualMs += Math.min(gap, this.options.maxGapMs ?? Infinity) / speed
          pacedTs = Math.max(pacedTs, row.ts)
          // A row older than the newest so far keeps its distance behind it, scaled alike.
          if (paceStamps) ts = Math.floor(realStart + virtualMs - (pacedTs - row.ts) / speed)
          // A timer may fire a millisecond before Date.now() reaches its due time:
          // wait until it has, so that no reading is stamped after it is sent.
          for (let wait = realStart + virtualMs - Date.now(); wait > 0; wait = realStart + virtualMs - Date.now()) await sleep(wait)
        }
        while (this.inFlight > maxInFlight && !this.stopped) await sleep(2)
        for (const reading of row.readings) {
          const payload = JSON.stringify({ ts, seq: seqs[reading.device]!++, values: reading.values })
          this.devices[reading.device]!.send(payload)
          result.readingsSent++
        }
        result.rowsSent++
        result.lastTs = row.ts
        this.options.onRow?.(result.rowsSent, row.ts)
        // Let acknowledgements in now and then when nothing else yields.
        if (result.rowsSent % 200 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
      const deadline = Date.now() + 30_000
      while (this.inFlight > 0 && Date.now() < deadline && !this.stopped) await sleep(10)
      // The service's refusal notices follow the commit, as the acknowledgements do: let the last ones arrive.
      if (!this.stopped) await sleep(this.options.noticeGraceMs ?? 500)
      return result
    } finally {
      await Promise.all(this.devices.map((d) => d.stop()))
    }
  }

  /** Ends the replay early (Ctrl-C); `run` then waits for what is in flight and returns. */
  stop(): void {
    this.stopped = true
  }

  private async connectAll(timeoutMs: number): Promise<void> {
    const perBatch = Math.max(1, Math.round((this.options.connectRatePerS ?? 500) / 10))
    const connects: Promise<void>[] = []
    for (let i = 0; i < this.devices.length; i += perBatch) {
      for (const d of this.devices.slice(i, i + perBatch)) connects.push(d.connect())
      if (i + perBatch < this.devices.length) await sleep(100)
    }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(connects),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          const connected = this.devices.filter((d) => d.connected).length
          reject(new Error(`Only ${connected} of ${this.devices.length} replay devices connected within ${timeoutMs} ms (check the URL and credentials).`))
        }, timeoutMs)
      }),
    ]).finally(() => clearTimeout(timer))
  }
}
