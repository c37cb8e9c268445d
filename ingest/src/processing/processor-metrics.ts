import { Gauge, type Registry } from 'prom-client'
import { mirroredCounter, mirroredLabelledCounter } from '../metrics.ts'
import type { ProcessorHost } from './processor-host.ts'

/**
 * The processors keep plain-number counters (they run per reading); these
 * copy them into /metrics when it is read (docs/operations.md#metrics).
 */
export function registerProcessorMetrics(registry: Registry, host: ProcessorHost): void {
  const { sequences, quality, rollups, indicators, alarms, hub, history } = host
  if (quality) {
    for (const reason of ['stuck', 'saturated', 'spike'] as const) {
      mirroredCounter(`gridline_quality_flagged_${reason}_total`, `Readings flagged ${reason.toUpperCase()} by the quality checks before the write.`, registry, () => quality.counts[reason])
    }
    mirroredCounter('gridline_quality_flagged_implausible_total', 'Readings outside the region\'s plausible range (processors.quality.plausibility), stored OUT_OF_RANGE with the IMPLAUSIBLE flag.', registry, () => quality.counts.implausible)
  }
  if (sequences) {
    mirroredCounter('gridline_seq_duplicates_dropped_total', 'Readings dropped before the write because their seq was already committed (a resend).', registry, () => sequences.duplicates - sequences.duplicatesInFlight)
    mirroredCounter('gridline_seq_duplicates_in_flight_total', 'Resent readings kept because their original was not yet committed (storage dropped them).', registry, () => sequences.duplicatesInFlight)
    mirroredCounter('gridline_seq_late_filled_total', 'Readings that arrived late and closed part of a seq gap.', registry, () => sequences.lateFilled)
    mirroredCounter('gridline_seq_restarts_total', 'Devices seen renumbering seq (a restart).', registry, () => sequences.restarts)
    new Gauge({
      name: 'gridline_seq_open_missing_readings', help: 'Readings missing in open seq gaps now (docs/rollups.md#sequence-numbers-duplicates-and-gaps).', registers: [registry],
      collect() { this.set(sequences.openMissing) },
    })
  }
  if (rollups) {
    mirroredCounter('gridline_rollup_late_readings_total', 'Readings that arrived after their 1-minute window closed; the stored rollup is recomputed.', registry, () => rollups.counts.lateReadings)
    mirroredCounter('gridline_rollup_single_reading_minutes_total', 'Closed 1-minute buckets of one reading: not written (and made as events only for a live subscriber of rollups); queries compute them from telemetry (docs/rollups.md#single-reading-minutes).', registry, () => rollups.counts.singleReadingMinutes)
    mirroredCounter('gridline_rollup_write_errors_total', 'Rollup writes that failed and were retried.', registry, () => rollups.counts.writeErrors)
    mirroredCounter('gridline_rollup_dropped_writes_total', 'Closed rollup buckets dropped because the database was away too long.', registry, () => rollups.counts.droppedWrites)
  }
  if (indicators) {
    mirroredCounter('gridline_indicator_late_readings_total', 'Readings that arrived after their indicator window closed (left out).', registry, () => indicators.stats.late)
    mirroredCounter('gridline_indicator_events_total', 'Indicator values emitted.', registry, () => indicators.stats.events)
    mirroredLabelledCounter('gridline_indicator_incomplete_hours_total', 'Hourly air-quality means left out (a missing hour for AQI) because the hour held fewer than processors.indicators.airQuality.hourlyCompletenessPct of its expected readings, one per sensor and pollutant, by pollutant.', 'pollutant', registry, () => indicators.stats.incompleteHours)
    mirroredCounter('gridline_indicator_night_flow_incomplete_total', 'District night-flow values (night_flow_min, scope metered_area) emitted marked incomplete: an expected meter missing from at least one bucket of the night.', registry, () => indicators.stats.incompleteNightFlows)
  }
  if (history) {
    mirroredCounter('gridline_indicator_values_written_total', 'Indicator values written to indicator_values (new or changed).', registry, () => history.store.stats.written)
    mirroredCounter('gridline_indicator_values_corrected_total', 'Stored indicator values rewritten with a new revision (late readings, a warm-up that found another value).', registry, () => history.store.stats.corrected)
    mirroredCounter('gridline_indicator_history_write_errors_total', 'Writes of indicator values that failed and were retried at the next flush.', registry, () => history.store.stats.failedFlushes)
    mirroredCounter('gridline_indicator_history_dropped_total', 'Indicator values dropped unwritten because the database was away too long (more than 200,000 waiting).', registry, () => history.store.dropped)
    mirroredCounter('gridline_indicator_recomputations_total', 'Recomputations of indicators over late readings.', registry, () => history.counts.recomputations)
    new Gauge({
      name: 'gridline_indicator_values_pending', help: 'Indicator values waiting to be written.', registers: [registry],
      collect() { this.set(history.store.stats.pending) },
    })
  }
  if (alarms) {
    for (const transition of ['raised', 'cleared', 'acknowledged', 'flapping', 'shelved', 'unshelved', 'escalated'] as const) {
      mirroredCounter(`gridline_alarms_${transition}_total`, `Alarm transitions: ${transition}.`, registry, () => alarms.stats().transitions[transition])
    }
    mirroredCounter('gridline_alarms_skipped_backfill_total', 'Backfilled readings that no alarm rule evaluated (they never raise live alarms).', registry, () => alarms.stats().skipped.backfill)
    new Gauge({
      name: 'gridline_alarms_active', help: 'Alarms raised and not cleared now.', registers: [registry],
      collect() { this.set(alarms.stats().active) },
    })
  }
  mirroredCounter('gridline_stream_delivered_total', 'Live stream events delivered to in-process subscribers.', registry, () => hub.stats().delivered)
  mirroredCounter('gridline_stream_dropped_events_total', 'Live stream events discarded with subscribers dropped for falling behind.', registry, () => hub.stats().droppedEvents)
  for (const reason of Object.keys(hub.stats().decimated) as (keyof ReturnType<typeof hub.stats>['decimated'])[]) {
    mirroredCounter(`gridline_stream_decimated_${reason}_total`, `Live stream events thinned for slow or rate-limited subscribers (${reason}).`, registry, () => hub.stats().decimated[reason])
  }
  new Gauge({
    name: 'gridline_stream_subscribers', help: 'In-process live stream subscribers now.', registers: [registry],
    collect() { this.set(hub.stats().subscribers) },
  })
}
