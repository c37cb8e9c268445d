import type { DeviceLookup, StreamEvent } from './events.ts'

export type StreamEventKind = StreamEvent['kind']

/**
 * What a subscriber wants. Every filter that is set must match; a filter on a
 * field rejects events that lack the field (a `devices` filter never passes a
 * district-wide indicator). See docs/live-stream.md for which field each event
 * kind offers.
 */
export interface StreamFilter {
  /** Event kinds; all when absent. */
  kinds?: readonly StreamEventKind[]
  /** Device domains (`environment`, `traffic`, ...). */
  domains?: readonly string[]
  /** Device ids, exact or with `*` wildcards (`aq-*`, `*-pump-?`: `?` is one character). */
  devices?: readonly string[]
  /** Metric names; for indicators the indicator name, for alarms the rule's metric or indicator. */
  metrics?: readonly string[]
}

export type EventPredicate = (event: StreamEvent) => boolean

/** Fields an alarm event may carry beyond the shared AlarmEvent (see alarms/alarm-event.ts). */
interface AlarmContext {
  deviceId?: string
  domain?: string
  metric?: string
}

export function eventDeviceId(event: StreamEvent): string | undefined {
  switch (event.kind) {
    case 'reading':
    case 'rollup':
      return event.deviceId
    case 'indicator':
      return event.scope === 'device' ? event.key : undefined
    case 'alarm':
      return (event as AlarmContext).deviceId
  }
}

export function eventMetric(event: StreamEvent): string | undefined {
  switch (event.kind) {
    case 'reading':
    case 'rollup':
      return event.metric
    case 'indicator':
      return event.name
    case 'alarm':
      return (event as AlarmContext).metric
  }
}

function eventDomain(event: StreamEvent, lookup: DeviceLookup | undefined): string | undefined {
  if (event.kind === 'reading') return event.domain
  if (event.kind === 'alarm' && (event as AlarmContext).domain !== undefined) return (event as AlarmContext).domain
  const deviceId = eventDeviceId(event)
  return deviceId === undefined ? undefined : lookup?.(deviceId)?.domain
}

/** `*` is any run of characters, `?` one character; everything else is literal. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`)
}

export function compileDeviceMatcher(patterns: readonly string[]): (deviceId: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes('*') && !p.includes('?')))
  const globs = patterns.filter((p) => p.includes('*') || p.includes('?')).map(globToRegExp)
  if (globs.length === 0) return (id) => exact.has(id)
  return (id) => exact.has(id) || globs.some((g) => g.test(id))
}

/** Builds the predicate once per subscription so matching costs a few Set lookups per event. */
export function compileFilter(filter: StreamFilter, lookup?: DeviceLookup): EventPredicate {
  const kinds = filter.kinds ? new Set<string>(filter.kinds) : undefined
  const domains = filter.domains ? new Set(filter.domains) : undefined
  const devices = filter.devices ? compileDeviceMatcher(filter.devices) : undefined
  const metrics = filter.metrics ? new Set(filter.metrics) : undefined
  return (event) => {
    if (kinds && !kinds.has(event.kind)) return false
    if (metrics) {
      const metric = eventMetric(event)
      if (metric === undefined || !metrics.has(metric)) return false
    }
    if (devices) {
      const deviceId = eventDeviceId(event)
      if (deviceId === undefined || !devices(deviceId)) return false
    }
    if (domains) {
      const domain = eventDomain(event, lookup)
      if (domain === undefined || !domains.has(domain)) return false
    }
    return true
  }
}

/**
 * The key under which a lagging subscriber keeps only the latest event, in
 * two parts so the common case (readings) needs no string concatenation:
 * (device, metric) for readings, (device, metric and resolution) for
 * rollups, (name, scope and key) for indicators. Alarm events have no key:
 * they are never decimated. A subscriber that needs every rollup bucket reads
 * them from the database.
 */
export function conflationKey(event: StreamEvent): readonly [string, string] | undefined {
  switch (event.kind) {
    case 'reading':
      return [event.deviceId, event.metric]
    case 'rollup':
      return [event.deviceId, `${event.metric}\u0000${event.resolution}`]
    case 'indicator':
      return [`\u0000${event.name}`, `${event.scope}\u0000${event.key}`]
    case 'alarm':
      return undefined
  }
}
