import { ApiError, api, errorMessage, qs } from '../api.ts'
import { h, replace } from '../dom.ts'
import { formatDateTime } from '../format.ts'
import { type Lang, t } from '../i18n.ts'

interface EndpointSummary { endpoint: string; type: string; pending: number; delivered: number; dead: number }
interface Delivery {
  id: string; endpoint: string; channel: string; alarmId: string; ruleId: string; subject: string; severity: string; state: string
  status: 'pending' | 'delivered' | 'dead'; attempts: number; createdAt: number; lastError: string | null; deadReason: string | null; replays: number
}

const STATUS_BADGE: Record<Delivery['status'], string> = { delivered: 'outcome-ok', pending: '', dead: 'outcome-failed' }

/**
 * The admin page's notifications panel (docs/notifications.md#admin-page-and-api):
 * each endpoint's counts, the latest deliveries with their last error, and a
 * Replay button on dead letters. `load` (re)reads both; `onChange` runs after a replay.
 */
export function notificationsPanel(lang: Lang, onChange: () => void): { element: HTMLElement; load: () => Promise<void> } {
  const summary = h('p', { class: 'muted', 'data-testid': 'notifications-summary' })
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true })
  const body = h('tbody')
  const status = h('select', { id: 'notifications-status' },
    h('option', { value: '' }, t('admin.notifications.all')),
    ...(['dead', 'pending', 'delivered'] as const).map((s) => h('option', { value: s }, t(`admin.notifications.status.${s}`))))
  const element = h('section', { class: 'panel', 'data-testid': 'notifications-panel' },
    h('h2', { class: 'panel-title' }, t('admin.notifications')),
    summary, h('label', {}, t('admin.notifications.filter'), status), error,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'table compact' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('admin.audit.at')), h('th', {}, t('admin.notifications.endpoint')), h('th', {}, t('admin.notifications.alarm')),
          h('th', {}, t('admin.notifications.change')), h('th', {}, t('admin.notifications.statusCol')), h('th', {}, t('admin.notifications.attempts')),
          h('th', {}, t('admin.notifications.lastError')), h('th'))),
        body)))

  async function load(): Promise<void> {
    try {
      const [{ endpoints }, { deliveries }] = await Promise.all([
        api<{ endpoints: EndpointSummary[] }>('/api/notifications'),
        api<{ deliveries: Delivery[] }>(`/api/notifications/deliveries${qs({ limit: 100, ...(status.value ? { status: status.value } : {}) })}`),
      ])
      error.hidden = true
      summary.textContent = endpoints.length === 0
        ? t('admin.notifications.none')
        : endpoints.map((e) => t('admin.notifications.counts', { endpoint: e.endpoint, type: e.type, pending: e.pending, delivered: e.delivered, dead: e.dead })).join(' · ')
      if (deliveries.length === 0) {
        replace(body, h('tr', {}, h('td', { colspan: 8, class: 'muted empty' }, t('admin.audit.empty'))))
        return
      }
      replace(body, ...deliveries.map((d) => h('tr', { 'data-testid': 'delivery-row', 'data-status': d.status },
        h('td', { class: 'nowrap' }, formatDateTime(d.createdAt, lang)),
        h('td', { class: 'mono' }, d.endpoint),
        h('td', {}, `${d.ruleId} · ${d.subject}`),
        h('td', {}, d.state),
        h('td', {}, h('span', { class: `badge ${STATUS_BADGE[d.status]}` }, t(`admin.notifications.status.${d.status}`))),
        h('td', {}, String(d.attempts)),
        h('td', { class: 'detail' }, d.deadReason ?? d.lastError ?? ''),
        h('td', { class: 'actions' }, d.status !== 'dead' ? null : h('button', {
          type: 'button', class: 'btn', 'data-testid': 'delivery-replay', onclick: () => void replay(d.id),
        }, t('admin.notifications.replay'))))))
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        summary.textContent = t('admin.notifications.none')
        replace(body)
        return
      }
      error.textContent = t('app.error.load', { message: errorMessage(err) })
      error.hidden = false
    }
  }

  async function replay(id: string): Promise<void> {
    try {
      await api(`/api/notifications/deliveries/${encodeURIComponent(id)}/replay`, { method: 'POST', body: {} })
    } catch (err) {
      error.textContent = t('admin.user.failed', { message: errorMessage(err) })
      error.hidden = false
    }
    await load()
    onChange()
  }

  status.addEventListener('change', () => void load())
  return { element, load }
}
