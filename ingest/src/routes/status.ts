import { type InboundMessage, type MessageRoute, Rows } from '@gridline/core'
import type { Catalogue } from '@gridline/schemas'
import { decodeStatus, isStatusTopic } from '@gridline/processors'
import type { IngestMetrics } from '../metrics.ts'

/**
 * `status/{domain}/{deviceId}`: a device's online/offline report, or its will
 * when the connection died (docs/protocol.md#device-status). Stored like
 * telemetry (acknowledged after commit, refusals dead-lettered) and never
 * fanned out: in-process consumers get it from the pipeline.
 */
export function statusRoute(options: { catalogue: Catalogue; rejectedPayloadMaxBytes: number }, metrics: IngestMetrics): MessageRoute {
  return {
    name: 'status',
    matches: isStatusTopic,
    handle(message: InboundMessage) {
      const { change, rejections } = decodeStatus(message.topic, message.payload, message.receivedAt, message.principal, options)
      if (change) metrics.statusReports.inc({ state: change.state })
      const decoded = { rows: new Rows(), readings: 0, rejections, unknownMetrics: 0, outOfRange: 0 }
      return change ? { decoded, statuses: [change] } : { decoded }
    },
  }
}
