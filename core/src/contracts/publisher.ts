/**
 * The way out to devices and integrations: device commands, alarm events,
 * rejection notices (later Sparkplug NCMD). The embedded broker is the first
 * implementation. Fire and forget: an implementation logs and counts its own
 * failures; a message published before it started or while it drains is
 * dropped (counted).
 */
export interface Publisher {
  /** `retain`: kept for late subscribers (open alarms). Delivered at QoS 1. */
  publish(topic: string, payload: string | Buffer, options?: { retain?: boolean }): void
}
