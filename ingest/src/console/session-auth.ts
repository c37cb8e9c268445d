import type { IncomingMessage } from 'node:http'
import { GridlineError } from '@gridline/core'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { type Role, type Session, type SessionStore, roleAtLeast } from './users.ts'

export const SESSION_COOKIE = 'gridline_session'

/** The value of one cookie from a Cookie header (no dependency for one name). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() !== name) continue
    try {
      return decodeURIComponent(part.slice(eq + 1).trim())
    } catch {
      return undefined // a malformed escape (`%zz`) is no token: no session, never a 500
    }
  }
  return undefined
}

export function sessionCookie(token: string, maxAgeMs: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxAgeMs / 1000)}${secure ? '; Secure' : ''}`
}

export const clearedSessionCookie = `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`

/** Looks up the session of a raw request (API routes, Node-RED, the live stream). */
export function sessionOf(sessions: SessionStore, req: IncomingMessage): Promise<Session | null> {
  return sessions.resolve(readCookie(req.headers.cookie, SESSION_COOKIE))
}

/** Sends a console error as `{error: {code, message}}` with its HTTP status. */
export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { code, message } })
}

const STATUS_BY_CODE: Record<string, number> = {
  GRIDLINE_UNAUTHENTICATED: 401,
  GRIDLINE_LOGIN_FAILED: 401,
  GRIDLINE_FORBIDDEN: 403,
  GRIDLINE_CSRF: 403,
  GRIDLINE_DEVICE_NOT_FOUND: 404,
  GRIDLINE_USER_NOT_FOUND: 404,
  GRIDLINE_ALARM_NOT_FOUND: 404,
  GRIDLINE_NOT_FOUND: 404,
  GRIDLINE_DEVICE_EXISTS: 409,
  GRIDLINE_USER_EXISTS: 409,
  GRIDLINE_LAST_ADMIN: 409,
  GRIDLINE_ALARM_ALREADY_ACKNOWLEDGED: 409,
  GRIDLINE_ALARM_STATE_CONFLICT: 409,
  GRIDLINE_LOGIN_THROTTLED: 429,
}

/** The HTTP status for an error a console call raised on purpose; undefined for anything else. */
export function statusForError(err: unknown): { status: number; code: string } | undefined {
  const code = (err as { code?: unknown }).code
  if (typeof code !== 'string' || !code.startsWith('GRIDLINE_')) return undefined
  return { status: STATUS_BY_CODE[code] ?? 400, code }
}

declare module 'fastify' {
  interface FastifyRequest {
    session: Session | null
  }
}

/** A preHandler that lets the request through only with a session whose role is at least `role`. */
export function requireRole(sessions: SessionStore, role: Role) {
  return async (req: FastifyRequest): Promise<void> => {
    const session = req.session ?? await sessionOf(sessions, req.raw)
    if (!session) throw new GridlineError('GRIDLINE_UNAUTHENTICATED', 'Log in first: this needs a session.')
    if (!roleAtLeast(session.user.role, role)) {
      throw new GridlineError('GRIDLINE_FORBIDDEN', `This needs the ${role} role; ${session.user.name} is ${session.user.role === 'admin' ? 'an' : 'a'} ${session.user.role}.`)
    }
    req.session = session
  }
}
