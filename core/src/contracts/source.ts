import type { Envelope } from './envelope.ts'
import type { DecodedMessage, Principal, StatusChange } from './message.ts'

/** One message as a source received it, before any decoding. */
export interface InboundMessage {
  /** The source component's id. */
  source: string
  /** Where the sender addressed it: an MQTT topic, an HTTP path. Routes and decoders read it. */
  topic: string
  clientId: string | null
  /** The login the source authenticated; null with `auth: none`. */
  principal: Principal | null
  /** Epoch ms. */
  receivedAt: number
  payload: Buffer
}

/**
 * What a route made of a message: rows and rejections, and any status
 * changes it reports. Rows are telemetry: the intake runs the pre-write
 * processors on them as on the telemetry decoder's.
 */
export interface RouteResult {
  decoded: DecodedMessage
  statuses?: StatusChange[]
}

/**
 * A kind of message a source may carry other than gridline's telemetry
 * (device status, replies to commands, a namespace such as Sparkplug's), registered on the intake by the composition root, so a source
 * never imports the services that consume them. Routes are tried in the
 * order they were added; the first whose `matches` is true takes the message.
 * `handle` must not throw (a throw is dead-lettered as decode_failed).
 */
export interface MessageRoute {
  readonly name: string
  matches(topic: string): boolean
  handle(message: InboundMessage): RouteResult
}

/**
 * The way into the runtime, handed to each source at start. `decode` runs
 * the route or the telemetry decoder, the reading rules and the pre-write
 * processors (seq duplicates, quality checks); it never throws. `submit`
 * must follow `decode` in the same synchronous turn (the pre-write processors
 * number messages by their write position); the envelope's `ack` is settled
 * after the primary sink's commit, or at once when there is nothing to store.
 *
 * Backpressure: while `congested`, a source stops acknowledging and reading
 * (or answers "later"); past `shedding` it refuses new messages
 * unacknowledged, so only what it already read adds to memory.
 */
export interface Intake {
  /**
   * `decoded`: a source with a wire format of its own (line protocol,
   * Sensor.Community) decodes it itself, with the shared reading rules
   * (processors' ReadingValidator), and hands the result here; the routes and
   * the gridline JSON decoder are then skipped, the pre-write processors run.
   */
  decode(message: InboundMessage, decoded?: DecodedMessage): Envelope
  submit(envelope: Envelope): void
  readonly congested: boolean
  readonly shedding: boolean
  readonly pendingRows: number
  /** Called with true when intake must be held back, false when it may resume. */
  onCongestion(listener: (held: boolean) => void): void
}

/** A source's view of its own health, for the readiness probe and metrics. */
export interface SourceHealth {
  ready: boolean
  /** Connections, listeners, upstream state: whatever helps an operator. */
  detail?: Record<string, unknown>
  /**
   * False for a source whose readiness must not take the service out of a
   * load balancer: a client of an upstream broker, while devices can still
   * reach the service's own listeners. It is reported in /readyz, not gating.
   * Default true.
   */
  gating?: boolean
}

/**
 * Takes messages in from the outside and hands them to the intake.
 *
 * Lifecycle: `start` once (listen or connect; resolves with the ports it
 * bound, for the log and for tests); `stopIntake` when the service stops:
 * no new messages, those taken in are still committed and acknowledged;
 * `close` once, after the runtime drained. `health` at any time.
 */
export interface Source {
  readonly id: string
  readonly type: string
  start(intake: Intake): Promise<Record<string, number | null>>
  stopIntake(): void
  close(): Promise<void>
  health(): SourceHealth
}
