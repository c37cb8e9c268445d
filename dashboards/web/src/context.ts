import type { User } from './api.ts'
import type { Live } from './live.ts'
import type { Route } from './route.ts'

/** What a page gets from the shell. */
export interface PageContext {
  user: User
  live: Live
  route: Route
  /** Operators and admins may acknowledge alarms and send commands. */
  canOperate: boolean
}

/** A mounted page. The shell calls `unmount` once, before the next page mounts. */
export interface Page {
  unmount(): void
}

export function canOperate(role: string): boolean {
  return role === 'operator' || role === 'admin'
}
