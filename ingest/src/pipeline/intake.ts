import { type Envelope, type InboundMessage, type Intake, type Logger, type MessageRoute, type RouteResult, envelopeRows } from '@gridline/core'
import { type DecodeOptions, type DecodedMessage, decodeFailure, decodeMessage } from '@gridline/processors'
import type { IngestMetrics } from '../metrics.ts'
import type { ProcessorHost } from '../processing/processor-host.ts'
import type { IngestPipeline } from './ingest-pipeline.ts'

/**
 * The runtime's Intake (core's contract), shared by every source: routes
 * registered by the composition root (device status, replies to commands)
 * take their messages; everything else is telemetry for the gridline JSON
 * decoder and the reading rules, then the pre-write processors (seq
 * duplicates, quality checks), then the pipeline.
 */
export class RuntimeIntake implements Intake {
  private readonly routes: MessageRoute[] = []

  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly deps: {
      decodeOptions: DecodeOptions
      /** The processors that run before the write (seq duplicates, quality checks). */
      processing: Pick<ProcessorHost, 'prepare'>
      metrics: IngestMetrics
      logger: Logger
      /** Past this many uncommitted rows sources refuse new messages unacknowledged. */
      shedAtPendingRows: number
    },
  ) {}

  /** Adds a route; tried in the order added, before the telemetry decoder. */
  route(route: MessageRoute): void {
    this.routes.push(route)
  }

  get congested(): boolean {
    return this.pipeline.congested
  }

  get shedding(): boolean {
    return this.pipeline.pendingRows >= this.deps.shedAtPendingRows
  }

  get pendingRows(): number {
    return this.pipeline.pendingRows
  }

  onCongestion(listener: (held: boolean) => void): void {
    this.pipeline.onCongestion(listener)
  }

  decode(message: InboundMessage, decoded?: DecodedMessage): Envelope {
    if (decoded === undefined) {
      for (const route of this.routes) {
        if (!route.matches(message.topic)) continue
        const result = this.routed(route, message)
        // A route that reads telemetry (Sparkplug) has its rows go through the pre-write processors like any.
        if (result.decoded.rows.length > 0) result.decoded = this.telemetry(message, result.decoded)
        return envelopeOf(message, result)
      }
    }
    return envelopeOf(message, { decoded: this.telemetry(message, decoded) })
  }

  /** Hands an envelope to the runtime; one with nothing to store (a reply taken) is settled at once. */
  submit(envelope: Envelope): void {
    if (envelopeRows(envelope) === 0) {
      envelope.ack?.settle('dropped')
      return
    }
    this.pipeline.submit(envelope)
  }

  private routed(route: MessageRoute, message: InboundMessage): RouteResult {
    try {
      return route.handle(message)
    } catch (err) {
      this.deps.logger.error({ err, route: route.name, topic: message.topic }, 'A message route failed on a message; it is kept in rejected as decode_failed.')
      return { decoded: decodeFailure(message.payload, err, message.principal?.id ?? null, this.deps.decodeOptions.rejectedPayloadMaxBytes) }
    }
  }

  private telemetry(message: InboundMessage, given: DecodedMessage | undefined): DecodedMessage {
    const { decodeOptions, processing, metrics } = this.deps
    let decoded = given ?? decodeMessage(message.topic, message.payload, message.receivedAt, message.principal, decodeOptions)
    try {
      processing.prepare(decoded, { position: this.pipeline.nextPosition, committedThrough: this.pipeline.committedThrough })
    } catch (err) {
      // A processor's failure on one message must not end the process (and
      // come back with every resend): that message is dead-lettered instead.
      this.deps.logger.error({ err, topic: message.topic }, 'A pre-write processor failed on a message; it is kept in rejected as decode_failed.')
      decoded = decodeFailure(message.payload, err, message.principal?.id ?? null, decodeOptions.rejectedPayloadMaxBytes)
    }
    // Held until the commit: without the spare capacity of its pushes.
    decoded.rows.compact()
    const hot = metrics.hot
    if (message.principal?.kind === 'gateway' || message.topic.startsWith('gateways/')) hot.gatewayMessages++
    else hot.deviceMessages++
    hot.readingsReceived += decoded.readings
    metrics.components.received(message.source, decoded.readings)
    if (decoded.unknownMetrics > 0) metrics.unknownMetricRows.inc(decoded.unknownMetrics)
    if (decoded.outOfRange > 0) metrics.outOfRangeRows.inc(decoded.outOfRange)
    return decoded
  }
}

function envelopeOf(message: InboundMessage, result: RouteResult): Envelope {
  const envelope: Envelope = {
    source: message.source,
    topic: message.topic,
    clientId: message.clientId,
    principal: message.principal,
    receivedAt: message.receivedAt,
    payload: message.payload,
    decoded: result.decoded,
    ack: null,
  }
  if (result.statuses && result.statuses.length > 0) envelope.statuses = result.statuses
  return envelope
}
