import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { GridlineError } from '@gridline/core'
import { parseDelimited } from './csv.ts'
import { datasetFiles } from './dataset.ts'

/**
 * Replay of a Sensor.Community (airrohr firmware) archive over HTTP, in the
 * firmware's own "send to own API" format: one POST per recorded row, the
 * body `{"esp8266id", "software_version", "sensordatavalues": [{value_type,
 * value}]}` with the values as the firmware's strings, and its headers
 * (`X-Sensor`, `X-MAC-ID`, Basic auth from its user/password fields). Like
 * the firmware it sends no time: the receiver stamps each POST.
 */

/**
 * Archive CSV columns (the madavi.de / sensor.community daily files) to the
 * value types the firmware sends. Columns not listed are sent under their own
 * name (newer archives already use the firmware's names); `Time` is not sent.
 */
export const ARCHIVE_COLUMN_VALUE_TYPES: Readonly<Record<string, string>> = {
  Temp: 'temperature',
  Humidity: 'humidity',
  Samples: 'samples',
  Min_cycle: 'min_micro',
  Max_cycle: 'max_micro',
  Signal: 'signal',
}

export interface AirrohrPost {
  /** File and line the row came from (1-based, the header is line 1). */
  file: string
  line: number
  /** The recorded time (not sent: the firmware sends none). */
  recordedAt: string
  values: { value_type: string; value: string }[]
}

export interface AirrohrArchive {
  chipId: string
  posts: AirrohrPost[]
  /** Rows with no value at all (only a time): the firmware never sends such a POST, so neither does the replay. */
  emptyRows: number
  files: number
}

/** Reads the archive files of one station (a file, or a folder's `data-*.csv`); the chip id comes from the file names unless given. */
export function loadAirrohrArchive(path: string, options: { chipId?: string; files?: string; maxRows?: number } = {}): AirrohrArchive {
  const files = datasetFiles(path, options.files ?? 'data-*.csv')
  let chipId = options.chipId
  const posts: AirrohrPost[] = []
  let emptyRows = 0
  for (const file of files) {
    const fromName = /(?:esp8266|esp32)-([0-9A-Za-z]+)/.exec(basename(file))?.[1]
    if (chipId === undefined) chipId = fromName
    else if (options.chipId === undefined && fromName !== undefined && fromName !== chipId) {
      throw new GridlineError('GRIDLINE_USAGE', `${basename(file)} is from chip ${fromName}, the files before it from ${chipId}: replay one station at a time (or pass its chip id).`)
    }
    const [header, ...rows] = parseDelimited(readFileSync(file, 'utf8'), ';')
    if (!header) continue
    const timeColumn = header.indexOf('Time')
    rows.forEach((row, i) => {
      if (options.maxRows !== undefined && posts.length + emptyRows >= options.maxRows) return
      if (row.length === 1 && row[0] === '') return
      const values: AirrohrPost['values'] = []
      header.forEach((column, c) => {
        const cell = row[c]?.trim()
        if (c === timeColumn || !cell) return
        values.push({ value_type: ARCHIVE_COLUMN_VALUE_TYPES[column] ?? column, value: cell })
      })
      if (values.length === 0) emptyRows++
      else posts.push({ file: basename(file), line: i + 2, recordedAt: row[timeColumn] ?? '', values })
    })
  }
  if (chipId === undefined) throw new GridlineError('GRIDLINE_USAGE', `No chip id in the file names under ${path} (data-esp8266-<chipid>-...): pass it.`)
  return { chipId, posts, emptyRows, files: files.length }
}

export interface AirrohrReplayOptions {
  /** The receiver's endpoint, e.g. http://127.0.0.1:8086/sensor-community. */
  url: string
  archive: AirrohrArchive
  /** The firmware's "user" and "password" fields: Basic auth when set. */
  username?: string
  password?: string
  /** The firmware's version string (default one of the station's era). */
  softwareVersion?: string
  /** X-MAC-ID: esp8266-<mac without colons>; a made-up one by default. */
  macId?: string
  /** POSTs in flight at once; 1 (the default) is what one station does, in order. */
  concurrency?: number
  /** Tries of one POST that the receiver answered 429/503 or did not answer, before it counts as failed. */
  maxTries?: number
  /** Longest wait between two tries of one POST. */
  maxRetryDelayMs?: number
  onPost?: (done: number) => void
}

export interface AirrohrReplayResult {
  posts: number
  /** 2xx: stored (or dead-lettered for good) by the receiver. */
  accepted: number
  /** Other 4xx: refused for good; not retried (first few kept with their bodies). */
  refused: number
  refusals: { file: string; line: number; status: number; body: string }[]
  /** Tries answered 429/503 or not answered, tried again. */
  retries: number
  /** POSTs given up after maxTries. */
  failed: number
  statuses: Record<number, number>
}

/** The body and headers the firmware sends for one row. */
export function airrohrRequest(post: AirrohrPost, chipId: string, options: Pick<AirrohrReplayOptions, 'username' | 'password' | 'softwareVersion' | 'macId'> = {}): { body: string; headers: Record<string, string> } {
  const version = options.softwareVersion ?? 'NRZ-2018-111'
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-Sensor': `esp8266-${chipId}`,
    'X-MAC-ID': `esp8266-${options.macId ?? fakeMac(chipId)}`,
    'User-Agent': `${version}/${chipId}`,
  }
  if (options.username !== undefined) headers.Authorization = `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`
  return { body: JSON.stringify({ esp8266id: chipId, software_version: version, sensordatavalues: post.values }), headers }
}

/** POSTs every row of the archive; resolves when each is answered for good (or failed after its tries). */
export async function replayAirrohr(options: AirrohrReplayOptions): Promise<AirrohrReplayResult> {
  const result: AirrohrReplayResult = { posts: 0, accepted: 0, refused: 0, refusals: [], retries: 0, failed: 0, statuses: {} }
  const { archive } = options
  const maxTries = options.maxTries ?? 20
  const maxDelay = options.maxRetryDelayMs ?? 5_000
  let next = 0
  const worker = async () => {
    while (next < archive.posts.length) {
      const post = archive.posts[next++]!
      const { body, headers } = airrohrRequest(post, archive.chipId, options)
      let delay = 50
      for (let attempt = 1; ; attempt++) {
        let status = 0
        let text = ''
        let retryAfterMs: number | undefined
        try {
          const res = await fetch(options.url, { method: 'POST', headers, body })
          status = res.status
          text = await res.text()
          const after = Number(res.headers.get('retry-after'))
          if (after > 0) retryAfterMs = after * 1_000
        } catch {
          status = 0
        }
        result.statuses[status] = (result.statuses[status] ?? 0) + 1
        if (status >= 200 && status < 300) {
          result.accepted++
          break
        }
        if (status !== 0 && status !== 429 && status !== 503) {
          result.refused++
          if (result.refusals.length < 20) result.refusals.push({ file: post.file, line: post.line, status, body: text.slice(0, 500) })
          break
        }
        if (attempt >= maxTries) {
          result.failed++
          break
        }
        result.retries++
        await new Promise((resolve) => setTimeout(resolve, Math.min(retryAfterMs ?? delay, maxDelay)))
        delay = Math.min(delay * 2, maxDelay)
      }
      result.posts++
      options.onPost?.(result.posts)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, worker))
  return result
}

/** A stable, locally administered MAC for a chip id (the archive does not record the real one). */
function fakeMac(chipId: string): string {
  const n = Number.parseInt(chipId, 10) || 0
  return `02${(n >>> 0).toString(16).padStart(10, '0').slice(-10)}`
}
