import { api, ApiError, errorMessage, qs } from '../api.ts'
import type { Page, PageContext } from '../context.ts'
import { debounce, h, keyed, replace, setAttr, setText } from '../dom.ts'
import { compareAlarms, formatDateTime, relativeParts, SEVERITIES, SEVERITY_COLORS, type Severity } from '../format.ts'
import { getLang, t, tOr } from '../i18n.ts'
import type { LiveEvent } from '../live.ts'

/** An alarm as the API and the stream carry it (docs/alarms.md#the-event). */
export interface Alarm {
  alarmId: string
  id?: string
  ruleId: string
  subject: string
  severity: string
  state: 'raised' | 'acknowledged' | 'cleared' | string
  time: number
  value?: number
  message: string
  active?: boolean
  flapping?: boolean
  raisedAt?: number
  deviceId?: string
  domain?: string
  metric?: string
  acknowledgedBy?: string
  comment?: string
  /** While shelved (docs/alarms.md#shelving). */
  shelvedUntil?: number
  shelvedBy?: string
  shelveReason?: string
  escalatedAt?: number
  /** History rows (GET /api/alarms/history): the change and who made it. */
  transition?: string
  actor?: string
}

/** What changed in a history row: `transition` from the API, `state` as in stream events. */
export function changeOf(a: { state?: string; transition?: string }): string {
  return a.transition ?? a.state ?? ''
}

function alarmKey(a: Alarm): string {
  return a.alarmId ?? a.id ?? `${a.ruleId}/${a.subject}`
}

function normalise(a: Alarm): Alarm {
  return { ...a, alarmId: alarmKey(a) }
}

/** Shelve durations offered, in minutes, up to the service's maximum. */
const SHELVE_MINUTES = [15, 60, 120, 240, 480]

/** Per-id answers of POST /api/alarms/ack. */
interface BulkResult { id: string; result: 'acknowledged' | 'already' | 'not_found' | 'refused'; alarm?: Alarm; message?: string }

export function matchesText(a: Alarm, text: string): boolean {
  if (!text) return true
  const needle = text.toLowerCase()
  return [a.subject, a.ruleId, a.message, a.deviceId, a.metric, a.domain, a.acknowledgedBy, a.comment]
    .some((v) => typeof v === 'string' && v.toLowerCase().includes(needle))
}

export function mountAlarms(root: HTMLElement, ctx: PageContext, initialTab: 'active' | 'history'): Page {
  const lang = getLang()
  let disposed = false
  let tab = initialTab
  const active = new Map<string, Alarm>()
  let ackOpen: string | undefined
  let shelveOpen: string | undefined
  const selected = new Set<string>()
  let maxShelveMinutes = 480

  const tabActive = h('button', { type: 'button', class: 'tab', role: 'tab', 'data-testid': 'alarm-tab-active', onclick: () => setTab('active') }, t('alarms.tab.active'))
  const tabHistory = h('button', { type: 'button', class: 'tab', role: 'tab', 'data-testid': 'alarm-tab-history', onclick: () => setTab('history') }, t('alarms.tab.history'))
  const severity = h('select', { 'data-testid': 'alarm-filter-severity', 'aria-label': t('alarms.filter.severity') },
    h('option', { value: '' }, t('alarms.filter.allSeverities')),
    ...SEVERITIES.map((s) => h('option', { value: s }, t(`severity.${s}`))))
  const text = h('input', { type: 'search', 'data-testid': 'alarm-filter-text', placeholder: t('alarms.filter.text'), 'aria-label': t('alarms.filter.text'), autocomplete: 'off' })
  const count = h('span', { class: 'muted' })
  // The alarm history as CSV (docs/exports.md): the last 30 days, the severity filter applied.
  const exportLink = h('a', {
    class: 'btn', 'data-testid': 'export-alarms', download: '', href: '#', title: t('export.csv.alarms'),
    onclick: (e: Event) => {
      const to = Date.now()
      ;(e.currentTarget as HTMLAnchorElement).href = `/api/export/alarms${qs({ from: new Date(to - 30 * 86_400_000).toISOString(), to: new Date(to).toISOString(), format: 'csv', severity: severity.value })}`
    },
  }, t('export.csv'))
  const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true })
  // Several at once: the ticked rows, one comment for all, an answer per alarm.
  const selectAll = h('input', { type: 'checkbox', 'data-testid': 'alarm-select-all', 'aria-label': t('alarms.selectAll') })
  const bulkComment = h('input', { type: 'text', 'data-testid': 'alarm-bulk-comment', placeholder: t('alarms.ack.comment'), maxlength: 500 })
  const bulkAck = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'alarm-ack-selected', disabled: true }, t('alarms.ackSelected', { count: 0 }))
  const bulkResult = h('span', { class: 'muted', 'data-testid': 'alarm-bulk-result', role: 'status' })
  const bulkBar = ctx.canOperate ? h('div', { class: 'toolbar bulk-bar' }, bulkComment, bulkAck, bulkResult) : null
  const activeBody = h('tbody')
  const historyBody = h('tbody')
  const activeTable = h('table', { class: 'table alarms' },
    h('thead', {}, h('tr', {},
      h('th', { class: 'select' }, ctx.canOperate ? selectAll : null),
      h('th', {}, t('alarms.col.severity')), h('th', {}, t('alarms.col.time')), h('th', {}, t('alarms.col.subject')),
      h('th', {}, t('alarms.col.message')), h('th', {}, t('alarms.col.state')), h('th'))),
    activeBody)
  const historyTable = h('table', { class: 'table alarms' },
    h('thead', {}, h('tr', {},
      h('th', {}, t('alarms.col.time')), h('th', {}, t('alarms.col.severity')), h('th', {}, t('alarms.col.state')),
      h('th', {}, t('alarms.col.subject')), h('th', {}, t('alarms.col.message')), h('th', {}, t('alarms.col.by')))),
    historyBody)
  const body = h('div', { class: 'table-wrap' })

  replace(root,
    h('div', { class: 'page-head' }, h('h1', {}, t('alarms.title')), count),
    h('div', { class: 'tabs', role: 'tablist' }, tabActive, tabHistory),
    h('div', { class: 'toolbar' }, severity, text, exportLink),
    bulkBar,
    errorBox,
    body)

  function showError(error: unknown): void {
    if (disposed) return
    errorBox.textContent = t('app.error.load', { message: errorMessage(error) })
    errorBox.hidden = false
  }

  // ---- active

  function renderActive(): void {
    const sev = severity.value
    const needle = text.value.trim()
    const list = [...active.values()]
      .filter((a) => (!sev || a.severity === sev) && matchesText(a, needle))
      .sort(compareAlarms)
    setText(count, t('alarms.count', { count: list.length }))
    // Only what is listed and shown stays selected.
    const shown = new Set(list.map(alarmKey))
    for (const id of selected) if (!shown.has(id)) selected.delete(id)
    renderSelection(list.length)
    if (list.length === 0) {
      replace(activeBody, h('tr', {}, h('td', { colspan: 7, class: 'muted empty' }, t('alarms.empty'))))
      return
    }
    if (activeBody.firstElementChild && !(activeBody.firstElementChild as HTMLElement).dataset['key']) activeBody.replaceChildren()
    keyed(activeBody, list, alarmKey, createRow, updateRow)
  }

  function renderSelection(shown: number): void {
    bulkAck.disabled = selected.size === 0
    setText(bulkAck, t('alarms.ackSelected', { count: selected.size }))
    selectAll.checked = shown > 0 && selected.size === shown
    selectAll.indeterminate = selected.size > 0 && selected.size < shown
  }

  selectAll.addEventListener('change', () => {
    for (const row of Array.from(activeBody.querySelectorAll<HTMLElement>('[data-testid=alarm-row]'))) {
      const id = row.dataset['alarmId']!
      if (selectAll.checked) selected.add(id)
      else selected.delete(id)
      const box = row.querySelector<HTMLInputElement>('[data-testid=alarm-select]')
      if (box) box.checked = selectAll.checked
    }
    renderSelection(activeBody.querySelectorAll('[data-testid=alarm-row]').length)
  })

  bulkAck.addEventListener('click', () => {
    const ids = [...selected]
    if (ids.length === 0) return
    bulkAck.disabled = true
    const c = bulkComment.value.trim()
    api<{ results: BulkResult[] }>('/api/alarms/ack', { method: 'POST', body: c ? { ids, comment: c } : { ids } })
      .then(({ results }) => {
        const n = { acknowledged: 0, already: 0, not_found: 0, refused: 0 }
        for (const r of results) {
          n[r.result]++
          if (r.alarm) upsert({ ...r.alarm, state: 'acknowledged', alarmId: r.id })
          if (r.result !== 'refused') selected.delete(r.id)
        }
        setAttr(bulkResult, 'data-acknowledged', String(n.acknowledged))
        setText(bulkResult, t('alarms.bulk.result', { acknowledged: n.acknowledged, already: n.already, missing: n.not_found, refused: n.refused }))
        bulkComment.value = ''
        if (n.already > 0) void loadActive()
        else renderActive()
      })
      .catch((error: unknown) => {
        setText(bulkResult, t('alarms.ack.failed', { message: errorMessage(error) }))
      })
      .finally(() => renderSelection(activeBody.querySelectorAll('[data-testid=alarm-row]').length))
  })

  function shelveForm(key: string, shelve: HTMLElement): HTMLElement {
    const reason = h('input', { type: 'text', 'data-testid': 'alarm-shelve-reason', placeholder: t('alarms.shelve.reason'), maxlength: 500, required: true })
    const minutes = h('select', { 'data-testid': 'alarm-shelve-minutes', 'aria-label': t('alarms.shelve.duration') },
      ...SHELVE_MINUTES.filter((m) => m <= maxShelveMinutes).map((m) => h('option', { value: String(m) }, m < 60 ? t('alarms.shelve.minutes', { n: m }) : t('alarms.shelve.hours', { n: m / 60 }))))
    const confirm = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'alarm-shelve-confirm' }, t('alarms.shelve'))
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost' }, t('alarms.ack.cancel'))
    const err = h('span', { class: 'form-error', role: 'alert', hidden: true })
    const form = h('div', { class: 'shelve-form', hidden: true }, reason, minutes, confirm, cancel, err)
    const close = () => {
      shelveOpen = undefined
      form.hidden = true
      shelve.hidden = false
    }
    shelve.addEventListener('click', () => {
      shelveOpen = key
      form.hidden = false
      shelve.hidden = true
      reason.focus()
    })
    cancel.addEventListener('click', close)
    const submit = () => {
      const why = reason.value.trim()
      if (!why) {
        reason.focus()
        return
      }
      confirm.disabled = true
      err.hidden = true
      api<{ alarm: Alarm }>(`/api/alarms/${encodeURIComponent(key)}/shelve`, { method: 'POST', body: { reason: why, minutes: Number(minutes.value) } })
        .then(({ alarm }) => {
          reason.value = ''
          close()
          onAlarmEvent(alarm)
        })
        .catch((error: unknown) => {
          err.textContent = t('alarms.shelve.failed', { message: errorMessage(error) })
          err.hidden = false
        })
        .finally(() => {
          confirm.disabled = false
        })
    }
    confirm.addEventListener('click', submit)
    reason.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') submit()
    })
    return form
  }

  function createRow(a: Alarm): HTMLElement {
    const key = alarmKey(a)
    const ackCell = h('td', { class: 'actions' })
    const selectCell = h('td', { class: 'select' })
    if (ctx.canOperate) {
      const box = h('input', { type: 'checkbox', 'data-testid': 'alarm-select', 'aria-label': t('alarms.select') })
      box.checked = selected.has(key)
      box.addEventListener('change', () => {
        if (box.checked) selected.add(key)
        else selected.delete(key)
        renderSelection(activeBody.querySelectorAll('[data-testid=alarm-row]').length)
      })
      selectCell.append(box)
    }
    if (ctx.canOperate) {
      const comment = h('input', { type: 'text', 'data-testid': 'alarm-ack-comment', placeholder: t('alarms.ack.comment'), maxlength: 500 })
      const confirm = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'alarm-ack-confirm' }, t('alarms.ack.confirm'))
      const cancel = h('button', { type: 'button', class: 'btn btn-ghost' }, t('alarms.ack.cancel'))
      const err = h('span', { class: 'form-error', role: 'alert', hidden: true })
      const form = h('div', { class: 'ack-form', hidden: true }, comment, confirm, cancel, err)
      const ack = h('button', { type: 'button', class: 'btn', 'data-testid': 'alarm-ack' }, t('alarms.ack'))
      ack.addEventListener('click', () => {
        ackOpen = key
        form.hidden = false
        ack.hidden = true
        comment.focus()
      })
      cancel.addEventListener('click', () => {
        ackOpen = undefined
        form.hidden = true
        ack.hidden = false
      })
      const submit = () => {
        confirm.disabled = true
        err.hidden = true
        const c = comment.value.trim()
        api<{ alarm: Alarm }>(`/api/alarms/${encodeURIComponent(key)}/ack`, { method: 'POST', body: c ? { comment: c } : {} })
          .then(({ alarm }) => {
            ackOpen = undefined
            if (alarm) upsert({ ...alarm, alarmId: key })
            renderActive()
          })
          .catch((error: unknown) => {
            if (error instanceof ApiError && error.code === 'GRIDLINE_ALARM_ALREADY_ACKNOWLEDGED') {
              ackOpen = undefined
              void loadActive()
              return
            }
            err.textContent = t('alarms.ack.failed', { message: errorMessage(error) })
            err.hidden = false
          })
          .finally(() => {
            confirm.disabled = false
          })
      }
      confirm.addEventListener('click', submit)
      comment.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') submit()
      })
      const shelve = h('button', { type: 'button', class: 'btn', 'data-testid': 'alarm-shelve' }, t('alarms.shelve'))
      const unshelve = h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'alarm-unshelve', hidden: true }, t('alarms.unshelve'))
      unshelve.addEventListener('click', () => {
        unshelve.disabled = true
        api<{ alarm: Alarm }>(`/api/alarms/${encodeURIComponent(key)}/unshelve`, { method: 'POST', body: {} })
          .then(({ alarm }) => onAlarmEvent(alarm))
          .catch(() => void loadActive())
          .finally(() => {
            unshelve.disabled = false
          })
      })
      ackCell.append(ack, form, shelve, shelveForm(key, shelve), unshelve)
    }
    return h('tr', { 'data-testid': 'alarm-row', 'data-alarm-id': key },
      selectCell,
      h('td', {}, h('span', { class: 'sev' })),
      h('td', { class: 'when' }),
      h('td', {}, h('a', { class: 'mono' })),
      h('td', { class: 'msg' }),
      h('td', { class: 'state' }),
      ackCell)
  }

  function updateRow(row: HTMLElement, a: Alarm): void {
    setAttr(row, 'data-severity', a.severity)
    setAttr(row, 'data-state', a.state)
    const shelved = a.shelvedUntil !== undefined
    setAttr(row, 'data-shelved', String(shelved))
    setAttr(row, 'data-escalated', String(a.escalatedAt !== undefined))
    row.classList.toggle('unacked', a.state === 'raised' && !shelved)
    row.classList.toggle('shelved', shelved)
    const [, sevCell, whenCell, subjectCell, msgCell, stateCell, ackCell] = Array.from(row.children) as HTMLElement[]
    const sev = sevCell!.firstElementChild as HTMLElement
    sev.style.setProperty('--sev', SEVERITY_COLORS[a.severity as Severity] ?? '#90a4ae')
    setText(sev, tOr(`severity.${a.severity}`, a.severity))
    const when = a.raisedAt ?? a.time
    const rel = relativeParts(when, Date.now())
    setText(whenCell!, `${formatDateTime(when, lang)} · ${t(rel.key, { n: rel.n })}`)
    const link = subjectCell!.firstElementChild as HTMLAnchorElement
    setText(link, a.subject)
    if (a.deviceId) link.href = `#/devices/${encodeURIComponent(a.deviceId)}`
    else link.removeAttribute('href')
    setText(msgCell!, a.message + (a.flapping ? ' ⟳' : ''))
    setText(stateCell!, [tOr(`alarmState.${a.state}`, a.state), a.acknowledgedBy ? t('alarms.ack.by', { user: a.acknowledgedBy }) : '', a.comment ? `“${a.comment}”` : ''].filter(Boolean).join(' '))
    if (a.escalatedAt !== undefined) stateCell!.append(h('div', { class: 'escalated', 'data-testid': 'alarm-escalated' }, t('alarms.escalated')))
    if (shelved) {
      stateCell!.append(h('div', { class: 'shelved-note', 'data-testid': 'alarm-shelved' },
        t('alarms.shelved', { until: formatDateTime(a.shelvedUntil!, lang), user: a.shelvedBy ?? '', reason: a.shelveReason ?? '' })))
    }
    const shelveButton = ackCell!.querySelector<HTMLElement>('[data-testid=alarm-shelve]')
    const shelveFormEl = ackCell!.querySelector<HTMLElement>('.shelve-form')
    const unshelveButton = ackCell!.querySelector<HTMLElement>('[data-testid=alarm-unshelve]')
    if (shelveButton && shelveFormEl && unshelveButton) {
      unshelveButton.hidden = !shelved
      if (shelved) {
        shelveButton.hidden = true
        shelveFormEl.hidden = true
      } else if (shelveOpen !== alarmKey(a)) {
        shelveButton.hidden = false
        shelveFormEl.hidden = true
      }
    }
    // Only a raised alarm can be acknowledged; keep an open form while the operator types.
    const ack = ackCell!.querySelector<HTMLElement>('[data-testid=alarm-ack]')
    const form = ackCell!.querySelector<HTMLElement>('.ack-form')
    if (ack && form) {
      const canAck = a.state === 'raised'
      if (!canAck) {
        ack.hidden = true
        form.hidden = true
      } else if (ackOpen !== alarmKey(a)) {
        ack.hidden = false
        form.hidden = true
      }
    }
  }

  function upsert(a: Alarm): void {
    const n = normalise(a)
    const known = active.get(n.alarmId)
    active.set(n.alarmId, { ...known, ...n, raisedAt: n.raisedAt ?? known?.raisedAt ?? (n.state === 'raised' ? n.time : undefined) })
  }

  /**
   * A stream event (or an answer of the API, which carries the same event): its `state` names
   * the change; the row keeps the alarm's state (raised or acknowledged), and the shelve is
   * the event's (an unshelved event carries none).
   */
  function onAlarmEvent(a: Alarm): void {
    if (loading) {
      loading.push(a)
      return
    }
    const n = normalise(a)
    if (n.state === 'cleared' || n.active === false) {
      active.delete(n.alarmId)
      selected.delete(n.alarmId)
    } else {
      const known = active.get(n.alarmId)
      const state = n.acknowledgedBy ? 'acknowledged' : 'raised'
      const { shelvedUntil, shelvedBy, shelveReason, ...rest } = { ...known, ...n }
      active.set(n.alarmId, {
        ...rest,
        state,
        // A shelve's, an unshelve's or an escalation's message describes that change; the row keeps the alarm's.
        message: known && (n.state === 'shelved' || n.state === 'unshelved' || n.state === 'escalated') ? known.message : n.message,
        raisedAt: n.raisedAt ?? known?.raisedAt ?? (n.state === 'raised' ? n.time : undefined),
        ...(n.shelvedUntil === undefined ? {} : { shelvedUntil: n.shelvedUntil, shelvedBy: n.shelvedBy, shelveReason: n.shelveReason }),
      } as Alarm)
    }
    scheduleRender()
  }

  let frame = 0
  function scheduleRender(): void {
    if (frame || tab !== 'active') return
    frame = requestAnimationFrame(() => {
      frame = 0
      if (!disposed) renderActive()
    })
  }

  // Events that arrive while the list loads are replayed on top of it, so a change
  // between the server's snapshot and the stream is not lost.
  let loading: Alarm[] | undefined
  async function loadActive(): Promise<void> {
    loading = []
    try {
      const answer = await api<{ alarms: Alarm[]; maxShelveMinutes?: number | null }>('/api/alarms')
      const alarms = answer.alarms
      if (typeof answer.maxShelveMinutes === 'number') maxShelveMinutes = answer.maxShelveMinutes
      if (disposed) return
      errorBox.hidden = true
      active.clear()
      for (const a of alarms) upsert(a)
      const missed = loading
      loading = undefined
      for (const a of missed) onAlarmEvent(a)
      renderActive()
    } catch (error) {
      loading = undefined
      showError(error)
    }
  }

  // ---- history

  let historyController: AbortController | undefined
  async function loadHistory(): Promise<void> {
    historyController?.abort()
    historyController = new AbortController()
    try {
      const { history } = await api<{ history: Alarm[] }>(`/api/alarms/history${qs({ severity: severity.value, q: text.value.trim(), limit: 200 })}`, { signal: historyController.signal })
      if (disposed) return
      errorBox.hidden = true
      setText(count, t('alarms.count', { count: history.length }))
      if (history.length === 0) {
        replace(historyBody, h('tr', {}, h('td', { colspan: 6, class: 'muted empty' }, t('alarms.history.empty'))))
        return
      }
      replace(historyBody, ...history.map((a) => h('tr', { 'data-testid': 'alarm-history-row', 'data-alarm-id': alarmKey(a), 'data-severity': a.severity, 'data-state': changeOf(a) },
        h('td', {}, formatDateTime(a.time, lang)),
        h('td', {}, severityBadge(a.severity)),
        h('td', {}, tOr(`alarmState.${changeOf(a)}`, changeOf(a))),
        h('td', {}, a.deviceId ? h('a', { class: 'mono', href: `#/devices/${encodeURIComponent(a.deviceId)}` }, a.subject) : h('span', { class: 'mono' }, a.subject)),
        h('td', {}, a.message, a.comment ? h('div', { class: 'muted' }, `“${a.comment}”`) : null),
        h('td', {}, a.actor ?? a.acknowledgedBy ?? ''))))
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') return
      showError(error)
    }
  }

  function setTab(next: 'active' | 'history'): void {
    tab = next
    tabActive.setAttribute('aria-selected', String(tab === 'active'))
    tabHistory.setAttribute('aria-selected', String(tab === 'history'))
    const hash = tab === 'history' ? '#/alarms?tab=history' : '#/alarms'
    if (location.hash !== hash) history.replaceState(null, '', hash)
    replace(body, tab === 'active' ? activeTable : historyTable)
    if (tab === 'active') renderActive()
    else void loadHistory()
  }

  const refilter = debounce(() => (tab === 'active' ? renderActive() : void loadHistory()), 200)
  severity.addEventListener('change', () => (tab === 'active' ? renderActive() : void loadHistory()))
  text.addEventListener('input', () => refilter())

  function onEvent(event: LiveEvent): void {
    if (event.kind !== 'alarm') return
    onAlarmEvent(event as unknown as Alarm)
  }

  // "3 min ago" must not stay "just now" on a wall screen that nobody reloads.
  const clock = setInterval(() => {
    if (tab === 'active') scheduleRender()
  }, 30_000)

  setTab(tab)
  void loadActive()
  ctx.live.connect('kinds=alarm', {
    onEvent,
    onReopen: () => {
      void loadActive()
      if (tab === 'history') void loadHistory()
    },
  })

  return {
    unmount: () => {
      disposed = true
      clearInterval(clock)
      refilter.cancel()
      historyController?.abort()
      if (frame) cancelAnimationFrame(frame)
    },
  }
}

/** A severity with its colour swatch; the colour through the CSSOM (the console's CSP forbids style attributes). */
function severityBadge(severity: string): HTMLElement {
  const el = h('span', { class: 'sev' }, tOr(`severity.${severity}`, severity))
  el.style.setProperty('--sev', SEVERITY_COLORS[severity as Severity] ?? '#90a4ae')
  return el
}
