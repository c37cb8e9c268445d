/**
 * What gridline's Node-RED nodes (dashboards/node-red) call inside the ingest
 * process. The ingest service builds one and hands it to Node-RED as
 * `settings.gridline.runtime`; the nodes read it from `RED.settings.gridline`
 * (docs/node-red.md). The nodes are plain CommonJS, so this type is the
 * contract they follow, not one the compiler checks on their side.
 */

export type GridlineEventKind = 'reading' | 'rollup' | 'indicator' | 'alarm'
export type GridlineAlarmSeverity = 'critical' | 'major' | 'minor' | 'warning' | 'info'

export interface GridlineSubscribeFilter {
  kinds?: string[]
  domains?: string[]
  /** Device ids, exact or with `*` and `?` (docs/live-stream.md#filters). */
  devices?: string[]
  metrics?: string[]
  /** Decimation: at most this many readings, rollups and indicators per second, the latest per key between. */
  maxEventsPerSecond: number
  /** Shown in the hub's stats, e.g. `node-red:air quality`. */
  name: string
}

export interface GridlineNodeRuntime {
  /**
   * Follows the live stream (StreamHub). `handler` is called for each event that
   * passes the filter, never concurrently; `onClose` once when the subscription
   * ends for a reason other than `unsubscribe()` (or with `unsubscribed`).
   */
  subscribe(
    filter: GridlineSubscribeFilter,
    handler: (event: { kind: string } & Record<string, unknown>) => void,
    onClose: (reason: string) => void,
  ): { unsubscribe(): void }
  /** Raises (or updates) a custom alarm, as `POST /api/alarms` does; resolves with the alarm. */
  raiseAlarm(
    input: { ruleId: string; subject: string; severity: GridlineAlarmSeverity; message: string; deviceId?: string; value?: number },
    actor: string,
  ): Promise<unknown>
  /** Clears a custom alarm; resolves with whether one was active. */
  clearAlarm(input: { ruleId: string; subject: string }, actor: string): Promise<boolean>
  /** Sends a device command; resolves with its final result (ok, rejected, failed or timeout). */
  sendCommand(
    input: { deviceId: string; action: string; params: Record<string, unknown> },
    actor: string,
  ): Promise<{ id: string; status: string; detail: string | null }>
  /**
   * What the registry knows of a device: its domain and metadata (district,
   * roadSegment, circuit, ...). `gridline in` puts it on each message as
   * `msg.device`, so a flow can group readings by place without a lookup table.
   */
  lookupDevice?(deviceId: string): { id: string; domain: string; metadata: Record<string, unknown> } | undefined
}

/** What the ingest service puts in Node-RED's settings under `gridline`. */
export interface GridlineNodeRedSettings {
  runtime: GridlineNodeRuntime
  /** The most events per second a `gridline in` node may ask for. */
  maxEventsPerSecond: number
}
