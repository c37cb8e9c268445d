import { api, errorMessage, qs } from '../api.ts'
import type { Page, PageContext } from '../context.ts'
import { debounce, h, replace } from '../dom.ts'
import { formatDateTime, relativeParts } from '../format.ts'
import { getLang, t, tOr } from '../i18n.ts'
import { routeHash } from '../route.ts'

export interface DeviceSummary {
  id: string
  domain: string
  kind: string
  status: string
  lastSeen: number | null
  metadata: Record<string, unknown>
  /** A LoRaWAN device's last device-status answer (ChirpStack status event). */
  power?: { batteryPercent: number | null; externalPower: boolean; marginDb: number; time: number }
}

const PAGE_SIZE = 100
const DOMAINS = ['environment', 'traffic', 'water', 'lighting', 'energy']
const STATUSES = ['online', 'stale', 'offline']

/** District, road segment, metered area or circuit: where the device is, as operators name it. */
export function locationOf(metadata: Record<string, unknown>): string {
  const parts = [metadata['district'], metadata['roadSegment'], metadata['meteredArea'], metadata['circuit']]
    .filter((v): v is string => typeof v === 'string' && v !== '')
  return parts.join(' · ')
}

export function lastSeenText(ms: number | null): string {
  if (ms === null || ms === undefined) return t('devices.never')
  const { key, n } = relativeParts(ms, Date.now())
  return t(key, { n })
}

export function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge status-${status}` }, tOr(`status.${status}`, status))
}

export function mountDevices(root: HTMLElement, ctx: PageContext, query: Record<string, string>): Page {
  const lang = getLang()
  const state = {
    q: query['q'] ?? '',
    domain: query['domain'] ?? '',
    status: query['status'] ?? '',
    page: Math.max(0, Number.parseInt(query['page'] ?? '0', 10) || 0),
  }

  const search = h('input', { id: 'device-search', type: 'search', placeholder: t('devices.search'), value: state.q, autocomplete: 'off', 'aria-label': t('devices.search') })
  const domainSelect = h('select', { id: 'device-domain', 'data-testid': 'device-filter-domain', 'aria-label': t('devices.col.domain') },
    h('option', { value: '' }, t('devices.domain.all')),
    ...DOMAINS.map((d) => h('option', { value: d }, tOr(`domain.${d}`, d))))
  domainSelect.value = state.domain
  const statusSelect = h('select', { id: 'device-status', 'data-testid': 'device-filter-status', 'aria-label': t('devices.col.status') },
    h('option', { value: '' }, t('devices.status.all')),
    ...STATUSES.map((s) => h('option', { value: s }, t(`status.${s}` as 'status.online'))))
  statusSelect.value = state.status
  const total = h('span', { 'data-testid': 'device-total', class: 'count' }, '–')
  const totalLabel = h('span', { class: 'muted' })
  const tbody = h('tbody')
  const pageInfo = h('span', { class: 'muted' })
  const prev = h('button', { type: 'button', class: 'btn', 'data-testid': 'devices-prev', onclick: () => go(state.page - 1) }, '‹ ', t('devices.prev'))
  const next = h('button', { type: 'button', class: 'btn', 'data-testid': 'devices-next', onclick: () => go(state.page + 1) }, t('devices.next'), ' ›')
  const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true })

  replace(root,
    h('div', { class: 'page-head' }, h('h1', {}, t('devices.title')), h('span', { class: 'total' }, total, ' ', totalLabel)),
    h('div', { class: 'toolbar' }, search, domainSelect, statusSelect),
    errorBox,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'table devices' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('devices.col.id')), h('th', {}, t('devices.col.domain')), h('th', {}, t('devices.col.status')),
          h('th', {}, t('devices.col.lastSeen')), h('th', {}, t('devices.col.location')))),
        tbody)),
    h('div', { class: 'pager' }, prev, pageInfo, next))

  let controller: AbortController | undefined
  let disposed = false

  /** Keeps the filters in the hash (back/forward and reload keep them) without remounting. */
  function syncHash(): void {
    const hash = routeHash({ name: 'devices', query: { q: state.q, domain: state.domain, status: state.status, page: state.page ? String(state.page) : '' } })
    if (location.hash !== hash) history.replaceState(null, '', hash)
  }

  async function load(): Promise<void> {
    controller?.abort()
    controller = new AbortController()
    syncHash()
    tbody.classList.add('loading')
    try {
      const data = await api<{ total: number; devices: DeviceSummary[] }>(
        `/api/devices${qs({ q: state.q, domain: state.domain, status: state.status, limit: PAGE_SIZE, offset: state.page * PAGE_SIZE })}`,
        { signal: controller.signal })
      if (disposed) return
      errorBox.hidden = true
      total.textContent = String(data.total)
      totalLabel.textContent = t('devices.total', { count: '' }).trim()
      if (data.devices.length === 0) {
        replace(tbody, h('tr', {}, h('td', { colspan: 5, class: 'muted empty' }, t('devices.empty'))))
      } else {
        replace(tbody, ...data.devices.map((d) => {
          const href = `#/devices/${encodeURIComponent(d.id)}`
          return h('tr', { 'data-testid': 'device-row', 'data-device-id': d.id, 'data-status': d.status, class: 'clickable', onclick: (e: Event) => {
            if ((e.target as HTMLElement).closest('a')) return
            location.hash = href
          } },
            h('td', {}, h('a', { href, class: 'mono' }, d.id)),
            h('td', {}, tOr(`domain.${d.domain}`, d.domain)),
            h('td', {}, statusBadge(d.status)),
            h('td', { title: formatDateTime(d.lastSeen, lang) }, lastSeenText(d.lastSeen)),
            h('td', {}, locationOf(d.metadata ?? {})))
        }))
      }
      const from = data.total === 0 ? 0 : state.page * PAGE_SIZE + 1
      const to = Math.min(data.total, (state.page + 1) * PAGE_SIZE)
      pageInfo.textContent = t('devices.page', { from, to, total: data.total })
      prev.disabled = state.page === 0
      next.disabled = to >= data.total
    } catch (error) {
      if (disposed || (error instanceof DOMException && error.name === 'AbortError')) return
      errorBox.textContent = t('app.error.load', { message: errorMessage(error) })
      errorBox.hidden = false
    } finally {
      tbody.classList.remove('loading')
    }
  }

  function go(page: number): void {
    state.page = Math.max(0, page)
    void load()
  }

  const searchLater = debounce(() => {
    state.q = search.value.trim()
    go(0)
  }, 300)
  search.addEventListener('input', () => searchLater())
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      searchLater.cancel()
      state.q = search.value.trim()
      go(0)
    }
  })
  domainSelect.addEventListener('change', () => {
    state.domain = domainSelect.value
    go(0)
  })
  statusSelect.addEventListener('change', () => {
    state.status = statusSelect.value
    go(0)
  })

  void load()
  // Only the connection indicator needs the stream here; a reconnect refreshes the states.
  ctx.live.connect('kinds=alarm', { onEvent: () => {}, onReopen: () => void load() })
  return {
    unmount: () => {
      disposed = true
      searchLater.cancel()
      controller?.abort()
    },
  }
}
