import { api, errorMessage, qs } from '../api.ts'
import type { Page, PageContext } from '../context.ts'
import { h, replace } from '../dom.ts'
import { csvField, devicesFromCsv } from '../csv.ts'
import { formatDateTime, formatNumber } from '../format.ts'
import { getLang, t, tOr } from '../i18n.ts'
import { notificationsPanel } from './admin-notifications.ts'

interface UserRow { name: string; role: string; createdAt: number | string | null; lastLoginAt: number | string | null }
interface AuditEntry { at: number | string; actor: string; action: string; target: string | null; detail: unknown; outcome: string }

const ROLES = ['viewer', 'operator', 'admin']
const DOMAINS = ['environment', 'traffic', 'water', 'lighting', 'energy']

function ms(value: number | string | null | undefined): number | null {
  if (value === null || value === undefined) return null
  return typeof value === 'number' ? value : Date.parse(value)
}

export function mountAdmin(root: HTMLElement, ctx: PageContext): Page {
  const lang = getLang()
  let disposed = false
  const usersBody = h('tbody')
  const auditBody = h('tbody')
  const notifications = notificationsPanel(lang, () => void loadAudit())
  const userError = h('p', { class: 'form-error', role: 'alert', hidden: true })
  const auditError = h('p', { class: 'form-error', role: 'alert', hidden: true })
  const name = h('input', { id: 'user-name', autocomplete: 'off', required: true, spellcheck: 'false', autocapitalize: 'off' })
  const password = h('input', { id: 'user-password', type: 'password', autocomplete: 'new-password', minlength: 10, required: true })
  const role = h('select', { id: 'user-role' }, ...ROLES.map((r) => h('option', { value: r }, tOr(`role.${r}`, r))))
  const add = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'user-add' }, t('admin.user.add'))
  const form = h('form', { class: 'inline-form' },
    h('label', {}, t('admin.user.name'), name),
    h('label', {}, t('admin.user.password'), password),
    h('label', {}, t('admin.user.role'), role),
    add)

  // Devices: register one (its password is shown once) or remove one; the CLI does the same in bulk.
  const deviceId = h('input', { id: 'device-id', autocomplete: 'off', required: true, spellcheck: 'false', autocapitalize: 'off' })
  const deviceDomain = h('select', { id: 'device-domain' }, ...DOMAINS.map((d) => h('option', { value: d }, tOr(`domain.${d}`, d))))
  const deviceMetadata = h('input', { id: 'device-metadata', autocomplete: 'off', spellcheck: 'false', placeholder: '{"district": "Hải Châu"}' })
  // Where it stands (the map, SensorThings' Locations): metadata latitude and longitude, in degrees.
  const coordinate = (id: string, min: number, max: number, placeholder: string) =>
    h('input', { id, type: 'number', step: 'any', min, max, inputmode: 'decimal', autocomplete: 'off', placeholder, class: 'input-coordinate' })
  const deviceLatitude = coordinate('device-latitude', -90, 90, '16.0544')
  const deviceLongitude = coordinate('device-longitude', -180, 180, '108.2022')
  const setLocation = h('button', { type: 'button', class: 'btn', 'data-testid': 'device-set-location' }, t('admin.device.setLocation'))
  const deviceNote = h('p', { class: 'form-note', role: 'status', 'data-testid': 'device-note', hidden: true })
  const registerDevice = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'device-add' }, t('admin.device.add'))
  const removeDevice = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'device-remove' }, t('admin.device.remove'))
  const deviceForm = h('form', { class: 'inline-form' },
    h('label', {}, t('admin.device.id'), deviceId),
    h('label', {}, t('admin.device.domain'), deviceDomain),
    h('label', {}, t('admin.device.metadata'), deviceMetadata),
    h('label', {}, t('admin.device.latitude'), deviceLatitude),
    h('label', {}, t('admin.device.longitude'), deviceLongitude),
    registerDevice, setLocation, removeDevice)
  /** Both coordinates as numbers, neither (undefined), or null when only one is given or one is out of range. */
  const placeGiven = (): { latitude: number; longitude: number } | undefined | null => {
    const lat = deviceLatitude.value.trim()
    const lon = deviceLongitude.value.trim()
    if (lat === '' && lon === '') return undefined
    const latitude = Number(lat)
    const longitude = Number(lon)
    if (lat === '' || lon === '' || !Number.isFinite(latitude) || !Number.isFinite(longitude) || Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return null
    return { latitude, longitude }
  }
  const showNote = (text: string, error = false) => {
    deviceNote.textContent = text
    deviceNote.className = error ? 'form-error' : 'form-note'
    deviceNote.hidden = false
  }
  deviceForm.addEventListener('submit', (event) => {
    event.preventDefault()
    let metadata: unknown
    try {
      metadata = deviceMetadata.value.trim() === '' ? undefined : JSON.parse(deviceMetadata.value)
    } catch {
      metadata = null
    }
    if (metadata === null || (metadata !== undefined && (typeof metadata !== 'object' || Array.isArray(metadata)))) return showNote(t('admin.device.badMetadata'), true)
    const place = placeGiven()
    if (place === null) return showNote(t('admin.device.badLocation'), true)
    const all = metadata || place ? { ...(metadata as Record<string, unknown> | undefined), ...place } : undefined
    registerDevice.disabled = true
    api<{ device: { id: string }; password: string }>('/api/devices', { method: 'POST', body: { id: deviceId.value.trim(), domain: deviceDomain.value, ...(all ? { metadata: all } : {}) } })
      .then((r) => {
        showNote(t('admin.device.added', { id: r.device.id, password: r.password }))
        deviceMetadata.value = ''
        deviceLatitude.value = ''
        deviceLongitude.value = ''
        return loadAudit()
      })
      .catch((error: unknown) => showNote(t('admin.user.failed', { message: errorMessage(error) }), true))
      .finally(() => { registerDevice.disabled = false })
  })
  // An existing device's place: merged into its metadata (POST /api/devices/:id/metadata).
  setLocation.addEventListener('click', () => {
    const id = deviceId.value.trim()
    const place = placeGiven()
    if (id === '') return
    if (!place) return showNote(t('admin.device.badLocation'), true)
    setLocation.disabled = true
    api<{ device: { id: string; metadata: Record<string, unknown> } }>(`/api/devices/${encodeURIComponent(id)}/metadata`, { method: 'POST', body: { metadata: place } })
      .then((r) => {
        showNote(t('admin.device.located', { id: r.device.id, latitude: String(r.device.metadata['latitude']), longitude: String(r.device.metadata['longitude']) }))
        return loadAudit()
      })
      .catch((error: unknown) => showNote(t('admin.user.failed', { message: errorMessage(error) }), true))
      .finally(() => { setLocation.disabled = false })
  })
  removeDevice.addEventListener('click', () => {
    const id = deviceId.value.trim()
    if (id === '') return
    api(`/api/devices/${encodeURIComponent(id)}`, { method: 'DELETE' })
      .then(() => {
        showNote(t('admin.device.removed', { id }))
        return loadAudit()
      })
      .catch((error: unknown) => showNote(t('admin.user.failed', { message: errorMessage(error) }), true))
  })

  // Many devices at once: CSV with a header line (docs/dashboards.md#importing-devices-from-csv),
  // each row registered as the form above does, the passwords offered once as a CSV download.
  const importFile = h('input', { id: 'import-file', type: 'file', accept: '.csv,text/csv' })
  const importText = h('textarea', { id: 'import-text', rows: 6, spellcheck: 'false', placeholder: 'id,domain,latitude,longitude,district\nsim-aq-0001,environment,16.0544,108.2022,Hải Châu' })
  const importRun = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'import-run' }, t('admin.import.run'))
  const importStatus = h('p', { class: 'form-note', role: 'status', 'data-testid': 'import-status', hidden: true })
  const importProblems = h('ul', { class: 'import-problems', 'data-testid': 'import-problems' })
  const importCredentials = h('a', { class: 'btn', 'data-testid': 'import-credentials', download: 'gridline-device-credentials.csv', hidden: true }, t('admin.import.credentials'))
  let credentialsUrl: string | undefined
  importFile.addEventListener('change', () => {
    const file = importFile.files?.[0]
    if (file) void file.text().then((text) => { importText.value = text })
  })
  importRun.addEventListener('click', () => void runImport())
  async function runImport(): Promise<void> {
    const { devices, problems } = devicesFromCsv(importText.value)
    replace(importProblems)
    importCredentials.hidden = true
    if (credentialsUrl) URL.revokeObjectURL(credentialsUrl)
    credentialsUrl = undefined
    importRun.disabled = true
    const created: { id: string; domain: string; password: string }[] = []
    const n = (v: number) => formatNumber(v, 0, lang)
    const progress = () => {
      importStatus.hidden = false
      importStatus.textContent = t('admin.import.progress', { done: n(created.length), total: n(devices.length), failed: n(problems.length) })
    }
    progress()
    for (const device of devices) {
      if (disposed) return
      try {
        const r = await api<{ device: { id: string; domain: string }; password: string }>('/api/devices', { method: 'POST', body: { id: device.id, domain: device.domain, ...(Object.keys(device.metadata).length > 0 ? { metadata: device.metadata } : {}) } })
        created.push({ id: r.device.id, domain: r.device.domain, password: r.password })
      } catch (error) {
        problems.push({ line: device.line, message: `${device.id}: ${errorMessage(error)}` })
      }
      progress()
    }
    importRun.disabled = false
    problems.sort((a, b) => a.line - b.line)
    replace(importProblems, ...problems.map((p) => h('li', { 'data-line': p.line }, t('admin.import.problem', { line: n(p.line), message: p.message }))))
    importStatus.textContent = t('admin.import.done', { done: n(created.length), failed: n(problems.length) })
    if (created.length > 0) {
      const csv = ['id,domain,password', ...created.map((c) => [c.id, c.domain, c.password].map(csvField).join(','))].join('\r\n') + '\r\n'
      credentialsUrl = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }))
      importCredentials.setAttribute('href', credentialsUrl)
      importCredentials.hidden = false
    }
    await loadAudit()
  }

  replace(root,
    h('div', { class: 'page-head' }, h('h1', {}, t('admin.title')),
      h('a', { href: '/flows', target: '_blank', rel: 'noopener', class: 'btn', 'data-testid': 'admin-flows' }, t('admin.flows'), ' ↗')),
    h('div', { class: 'grid grid-2' },
      h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, t('admin.users')),
        form, userError,
        h('table', { class: 'table compact' },
          h('thead', {}, h('tr', {}, h('th', {}, t('admin.user.name')), h('th', {}, t('admin.user.role')), h('th', {}, t('admin.user.created')), h('th', {}, t('admin.user.lastLogin')), h('th'))),
          usersBody)),
      h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, t('admin.devices')), deviceForm, deviceNote),
      h('section', { class: 'panel', 'data-testid': 'import-panel' }, h('h2', { class: 'panel-title' }, t('admin.import.title')),
        h('p', { class: 'muted' }, t('admin.import.help')),
        h('div', { class: 'inline-form' }, h('label', {}, t('admin.import.file'), importFile)),
        h('label', { class: 'block-label' }, t('admin.import.text'), importText),
        h('div', { class: 'inline-form' }, importRun, importCredentials),
        importStatus, importProblems),
      notifications.element,
      h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, t('admin.audit')), auditError,
        h('div', { class: 'table-wrap' },
          h('table', { class: 'table compact' },
            h('thead', {}, h('tr', {}, h('th', {}, t('admin.audit.at')), h('th', {}, t('admin.audit.actor')), h('th', {}, t('admin.audit.action')), h('th', {}, t('admin.audit.target')), h('th', {}, t('admin.audit.outcome')), h('th', {}, t('admin.audit.detail')))),
            auditBody)))))

  async function loadUsers(): Promise<void> {
    try {
      const { users } = await api<{ users: UserRow[] }>('/api/users')
      if (disposed) return
      replace(usersBody, ...users.map((u) => h('tr', { 'data-testid': 'user-row', 'data-user': u.name },
        h('td', {}, u.name),
        h('td', {}, tOr(`role.${u.role}`, u.role)),
        h('td', {}, formatDateTime(ms(u.createdAt), lang)),
        h('td', {}, formatDateTime(ms(u.lastLoginAt), lang)),
        h('td', { class: 'actions' }, u.name === ctx.user.name ? null : h('button', {
          type: 'button', class: 'btn btn-danger', 'data-testid': 'user-remove', title: t('admin.user.removeConfirm', { name: u.name }), onclick: () => void remove(u.name),
        }, t('admin.user.remove'))))))
    } catch (error) {
      if (disposed) return
      userError.textContent = t('app.error.load', { message: errorMessage(error) })
      userError.hidden = false
    }
  }

  async function remove(user: string): Promise<void> {
    try {
      await api(`/api/users/${encodeURIComponent(user)}`, { method: 'DELETE' })
      userError.hidden = true
    } catch (error) {
      userError.textContent = t('admin.user.failed', { message: errorMessage(error) })
      userError.hidden = false
    }
    await Promise.all([loadUsers(), loadAudit()])
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    userError.hidden = true
    add.disabled = true
    api('/api/users', { method: 'POST', body: { name: name.value.trim(), password: password.value, role: role.value } })
      .then(() => {
        name.value = ''
        password.value = ''
        return Promise.all([loadUsers(), loadAudit()])
      })
      .catch((error: unknown) => {
        userError.textContent = t('admin.user.failed', { message: errorMessage(error) })
        userError.hidden = false
      })
      .finally(() => {
        add.disabled = false
      })
  })

  async function loadAudit(): Promise<void> {
    try {
      const { entries } = await api<{ entries: AuditEntry[] }>(`/api/audit${qs({ limit: 100 })}`)
      if (disposed) return
      auditError.hidden = true
      if (entries.length === 0) {
        replace(auditBody, h('tr', {}, h('td', { colspan: 6, class: 'muted empty' }, t('admin.audit.empty'))))
        return
      }
      replace(auditBody, ...entries.map((e) => h('tr', { 'data-testid': 'audit-row', 'data-action': e.action, 'data-outcome': e.outcome },
        h('td', { class: 'nowrap' }, formatDateTime(ms(e.at), lang)),
        h('td', {}, e.actor),
        h('td', { class: 'mono' }, e.action),
        h('td', { class: 'mono' }, e.target ?? ''),
        h('td', {}, h('span', { class: `badge outcome-${e.outcome}` }, e.outcome)),
        h('td', { class: 'detail' }, e.detail === null || e.detail === undefined ? '' : typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)))))
    } catch (error) {
      if (disposed) return
      auditError.textContent = t('app.error.load', { message: errorMessage(error) })
      auditError.hidden = false
    }
  }

  void loadUsers()
  void loadAudit()
  void notifications.load()
  ctx.live.connect('kinds=alarm', { onEvent: () => {}, onReopen: () => void Promise.all([loadUsers(), loadAudit()]) })
  return {
    unmount: () => {
      disposed = true
      if (credentialsUrl) URL.revokeObjectURL(credentialsUrl)
    },
  }
}
