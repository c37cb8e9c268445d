/**
 * How a message ended, as a sink or the runtime reports it, after Vector's
 * finalizers (`lib/vector-common/src/finalization.rs`):
 *
 * - `delivered`: stored (committed by the primary sink).
 * - `dropped`: intentionally not stored, nothing to keep (a reply taken by the
 *   command service, a message with nothing in it to write).
 * - `rejected`: refused for good and kept as a dead letter with its reason;
 *   sending it again would not help, so the sender is acknowledged.
 * - `errored`: not stored, and it may succeed later (shutdown before the
 *   commit, the database gone past the deadline): the sender must NOT be
 *   acknowledged, so it sends again.
 *
 * Statuses of the parts of one message merge worst-wins:
 * dropped < delivered < errored, and rejected wins over both (a message some
 * of whose readings were dead-lettered is `rejected`).
 */
export type DeliveryStatus = 'delivered' | 'dropped' | 'errored' | 'rejected'

const RANK: Record<DeliveryStatus, number> = { dropped: 0, delivered: 1, errored: 2, rejected: 3 }

/** The worse of two statuses (Vector's `EventStatus::update`). */
export function mergeStatus(a: DeliveryStatus, b: DeliveryStatus): DeliveryStatus {
  return RANK[b] > RANK[a] ? b : a
}

/** Whether a sender is owed its acknowledgement (PUBACK, HTTP 2xx) for a message that ended so. */
export const acknowledges = (status: DeliveryStatus): boolean => status !== 'errored'

/**
 * The promise to a sender that its message is kept. Created by the source
 * per message (never per reading), settled exactly once by the runtime, after
 * the primary sink's commit or when the runtime gives the message up; later
 * calls are ignored. The source turns the status into its protocol's answer
 * (a PUBACK, an HTTP status) and must keep its own ordering rules.
 */
export interface Acknowledgement {
  /**
   * `status` defaults to `delivered`; `errored` comes with the reason the
   * runtime gave up (then the sender is not acknowledged).
   */
  settle(status?: DeliveryStatus, reason?: Error): void
}
