/**
 * Which login holds each MQTT client id (docs/protocol.md#client-ids).
 *
 * MQTT lets a new connection with a client id take over the session and the
 * connection of that id [MQTT-3.1.4-2]: the old connection is closed and,
 * with clean session off, the new one receives the session's queued
 * messages. With device logins that would let any device read another
 * device's commands, so a session belongs to the login that made it: a
 * client id that another login holds, connected or with a persistent session
 * in the broker, is refused with CONNACK 2 (identifier rejected). The same
 * login may take its own id over, as MQTT intends.
 *
 * Lifecycle: `claim` when a login is accepted, `release` when its socket
 * closed (exactly once each);
 * a persistent session (clean session off) keeps its id held after the
 * connection ended, for as long as the broker keeps the session (aedes keeps
 * it in memory until a clean-session connect of the same id, or a restart).
 */
export class SessionOwners {
  /** client id -> the login holding it, and whether it left a persistent session. */
  private readonly owners = new Map<string, { login: string; persistent: boolean; connections: number }>()

  /** The login holding `clientId`, if any. */
  holder(clientId: string): string | undefined {
    return this.owners.get(clientId)?.login
  }

  /** May `login` use `clientId`? True when nobody or `login` itself holds it. */
  mayUse(clientId: string, login: string): boolean {
    const owner = this.owners.get(clientId)
    return owner === undefined || owner.login === login
  }

  /**
   * A connection of `login` with `clientId` was accepted. With clean session
   * on, any earlier persistent session of that id is discarded by the broker
   * [MQTT-3.1.2-6], so it is held only while connected.
   */
  claim(clientId: string, login: string, clean: boolean): void {
    const owner = this.owners.get(clientId)
    if (owner && owner.login === login) {
      owner.persistent = !clean
      owner.connections++
      return
    }
    this.owners.set(clientId, { login, persistent: !clean, connections: 1 })
  }

  /** A connection of `login` with `clientId` ended. */
  release(clientId: string, login: string): void {
    const owner = this.owners.get(clientId)
    if (!owner || owner.login !== login) return
    // A takeover by the same login closes the old connection after the new
    // one claimed the id: the count keeps the id held by the new one.
    owner.connections--
    if (owner.connections <= 0 && !owner.persistent) this.owners.delete(clientId)
  }

  get size(): number {
    return this.owners.size
  }
}
