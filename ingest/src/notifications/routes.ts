import { GridlineError } from '@gridline/core'
import type { FastifyInstance } from 'fastify'
import type { AuditLog } from '../console/audit.ts'
import { requireRole } from '../console/session-auth.ts'
import type { SessionStore } from '../console/users.ts'
import type { DeliveryStatus, NotificationService } from './notification-service.ts'

const STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'dead']

/**
 * The admin API of alarm notifications (docs/console-api.md#notifications):
 * endpoints with their counts, deliveries, and replay of a dead-lettered one.
 * Admins only; the replay is a POST, so the console's Origin and JSON rules
 * (http-guards.ts) apply, and it is audited.
 */
export function registerNotificationRoutes(app: FastifyInstance, deps: { sessions: SessionStore; audit: AuditLog; notifications: NotificationService }): void {
  const admin = { preHandler: requireRole(deps.sessions, 'admin') }
  const { notifications, audit } = deps

  app.get('/api/notifications', admin, async () => ({ endpoints: await notifications.summary() }))

  app.get('/api/notifications/deliveries', admin, async (req) => {
    const q = req.query as Record<string, string | undefined>
    if (q.status !== undefined && q.status !== '' && !STATUSES.includes(q.status as DeliveryStatus)) {
      throw new GridlineError('GRIDLINE_BAD_REQUEST', `status: one of ${STATUSES.join(', ')}.`)
    }
    const limit = q.limit === undefined || q.limit === '' ? 100 : Number(q.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'limit: a whole number from 1 to 1000.')
    return {
      deliveries: await notifications.list({
        status: (q.status || undefined) as DeliveryStatus | undefined,
        endpoint: q.endpoint || undefined,
        alarmId: q.alarmId || undefined,
        limit,
      }),
    }
  })

  app.post('/api/notifications/deliveries/:id/replay', admin, async (req) => {
    const { id } = req.params as { id: string }
    const actor = req.session!.user.name
    try {
      const delivery = await notifications.replay(id)
      audit.record(actor, 'notification.replay', id, { endpoint: delivery.endpoint, alarmId: delivery.alarmId, state: delivery.state, idempotencyKey: delivery.idempotencyKey })
      return { delivery }
    } catch (err) {
      audit.record(actor, 'notification.replay', id, { error: (err as Error).message }, 'refused')
      throw err
    }
  })
}
