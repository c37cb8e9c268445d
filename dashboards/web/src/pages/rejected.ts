import { api, errorMessage, qs } from '../api.ts'
import type { Page, PageContext } from '../context.ts'
import { h, replace } from '../dom.ts'
import { formatDateTime } from '../format.ts'
import { getLang, t } from '../i18n.ts'
import { routeHash } from '../route.ts'

/** One refused message as /api/rejected gives it (docs/console-api.md#rejected). */
export interface RejectedEntry {
  id: number; receivedAt: number; clientId: string | null; deviceId: string | null; topic: string
  reason: string; detail: string; payloadText: string; payloadBytes: number; payloadTruncated: boolean
}

const PAGE_SIZE = 50
const SINCE = ['', '1h', '24h', '7d'] as const

/**
 * Refused messages for operators and admins: reason, detail, device, topic,
 * time and the payload as text. Everything a device sent is set as text
 * (textContent through `h`), never as markup.
 */
export function mountRejected(root: HTMLElement, ctx: PageContext, query: Record<string, string>): Page {
  const lang = getLang()
  let disposed = false
  /** Ids of the first entry of each page shown so far, for paging back (`before`). */
  const pages: (number | undefined)[] = [query['before'] ? Number(query['before']) : undefined]
  let next: number | undefined

  const device = h('input', { id: 'rejected-device', 'data-testid': 'rejected-device', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', value: query['device'] ?? '' })
  const reason = h('input', { id: 'rejected-reason', 'data-testid': 'rejected-reason', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'value_invalid', value: query['reason'] ?? '' })
  const since = h('select', { id: 'rejected-since', 'data-testid': 'rejected-since' },
    ...SINCE.map((s) => h('option', { value: s, selected: (query['since'] ?? '') === s }, s === '' ? t('rejected.since.any') : t(`device.range.${s}`))))
  const form = h('form', { class: 'inline-form', 'data-testid': 'rejected-filter' },
    h('label', {}, t('rejected.filter.device'), device),
    h('label', {}, t('rejected.filter.reason'), reason),
    h('label', {}, t('rejected.filter.since'), since),
    h('button', { type: 'submit', class: 'btn btn-primary' }, t('rejected.filter.apply')))
  const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true })
  const body = h('tbody')
  const newest = h('button', { type: 'button', class: 'btn', 'data-testid': 'rejected-newest', hidden: true, onclick: () => void load(undefined, true) }, t('rejected.newest'))
  const older = h('button', { type: 'button', class: 'btn', 'data-testid': 'rejected-older', hidden: true, onclick: () => void (next !== undefined && load(next)) }, t('rejected.more'))

  replace(root,
    h('div', { class: 'page-head' }, h('h1', {}, t('rejected.title'))),
    h('p', { class: 'muted' }, t('rejected.intro')),
    h('section', { class: 'panel' }, form, errorBox,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'table compact rejected' },
          h('thead', {}, h('tr', {},
            h('th', {}, t('rejected.col.time')), h('th', {}, t('rejected.col.device')), h('th', {}, t('rejected.col.reason')),
            h('th', {}, t('rejected.col.topic')), h('th', {}, t('rejected.col.detail')), h('th', {}, t('rejected.col.payload')))),
          body)),
      h('div', { class: 'pager' }, newest, older)))

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    // The filter lives in the hash, so a filtered view can be shared and survives a reload.
    location.hash = routeHash({ name: 'rejected', query: { device: device.value.trim(), reason: reason.value.trim(), since: since.value } })
  })

  async function load(before: number | undefined, reset = false): Promise<void> {
    try {
      const r = await api<{ entries: RejectedEntry[]; next?: number }>(`/api/rejected${qs({
        device: query['device'] || undefined, reason: query['reason'] || undefined, since: query['since'] || undefined, before, limit: PAGE_SIZE,
      })}`)
      if (disposed) return
      errorBox.hidden = true
      if (reset) pages.length = 1
      next = r.next
      older.hidden = next === undefined
      newest.hidden = before === undefined
      if (r.entries.length === 0) {
        replace(body, h('tr', {}, h('td', { colspan: 6, class: 'muted empty' }, t('rejected.none'))))
        return
      }
      replace(body, ...r.entries.map(row))
    } catch (error) {
      if (disposed) return
      errorBox.textContent = t('app.error.load', { message: errorMessage(error) })
      errorBox.hidden = false
    }
  }

  function row(e: RejectedEntry): HTMLElement {
    const kept = new TextEncoder().encode(e.payloadText).length
    return h('tr', { 'data-testid': 'rejected-row', 'data-reason': e.reason },
      h('td', { class: 'nowrap' }, formatDateTime(e.receivedAt, lang)),
      h('td', { class: 'mono' }, e.deviceId ? h('a', { href: routeHash({ name: 'device', id: e.deviceId }) }, e.deviceId) : '—'),
      h('td', { class: 'mono' }, e.reason),
      h('td', { class: 'mono' }, e.topic),
      h('td', { class: 'detail' }, e.detail),
      h('td', {},
        h('pre', { class: 'payload mono', 'data-testid': 'rejected-payload' }, e.payloadText),
        e.payloadTruncated ? h('span', { class: 'muted' }, t('rejected.payload.cut', { kept, bytes: e.payloadBytes })) : null))
  }

  void load(pages[0])
  ctx.live.connect('kinds=alarm', { onEvent: () => {}, onReopen: () => void load(pages[0]) })
  return { unmount: () => { disposed = true } }
}
