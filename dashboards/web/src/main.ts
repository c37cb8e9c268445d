/**
 * The operator web app: shell (header, routing, session, language) and page mounting.
 * Built by dashboards/web/build-lib.mjs into dashboards/dist/.
 */
import 'uplot/dist/uPlot.min.css'
import './style.css'
import { api, setUnauthenticatedHandler, type Session, type User } from './api.ts'
import { canOperate, type Page, type PageContext } from './context.ts'
import { h, replace } from './dom.ts'
import { getLang, pickLang, setLang, t, tOr, type Lang } from './i18n.ts'
import { Live } from './live.ts'
import { AlarmSound } from './alarm-sound.ts'
import { mayOpen, parseRoute, type Route } from './route.ts'
import { mountLogin } from './pages/login.ts'
import { mountOverview } from './pages/overview.ts'
import { mountMap } from './pages/map.ts'
import { mountDevices } from './pages/devices.ts'
import { mountDevice } from './pages/device.ts'
import { mountAlarms } from './pages/alarms.ts'
import { mountAdmin } from './pages/admin.ts'
import { mountRejected } from './pages/rejected.ts'
import { mountIndicators } from './pages/indicators.ts'
import { mountWall } from './pages/wall.ts'

const LANG_KEY = 'gridline.lang'

let user: User | undefined
/** The page asked for before the login page interrupted; opened after signing in. */
let returnTo = '#/overview'
let page: Page | undefined
const live = new Live()
// New critical and major alarms on any page whose stream carries alarms (docs/dashboards.md#alarm-sound).
const alarmSound = new AlarmSound()
live.onEvent((event) => alarmSound.offer(event))
let soundToggle: HTMLElement | undefined

function showSound(on: boolean): void {
  if (!soundToggle) return
  soundToggle.setAttribute('aria-pressed', String(on))
  soundToggle.textContent = on ? `🔔 ${t('alarmSound.on')}` : `🔕 ${t('alarmSound.off')}`
}
alarmSound.onChange(showSound)

function storedLang(): string | null {
  try {
    return localStorage.getItem(LANG_KEY)
  } catch {
    return null // Storage disabled (private mode): fall back to the browser's language.
  }
}

function applyLang(lang: Lang): void {
  setLang(lang)
  document.documentElement.lang = lang
  document.title = t('app.title')
}

function chooseLang(lang: Lang): void {
  try {
    localStorage.setItem(LANG_KEY, lang)
  } catch {
    // Not persisted; the choice still holds for this page load.
  }
  if (lang === getLang()) return
  applyLang(lang)
  render()
}

let liveIndicator: HTMLElement | undefined
let liveState: 'open' | 'connecting' = 'connecting'

function showLiveState(state: 'open' | 'connecting'): void {
  liveState = state
  if (!liveIndicator) return
  liveIndicator.dataset['state'] = state
  const text = liveIndicator.querySelector('.live-text')
  if (text) text.textContent = t(state === 'open' ? 'live.open' : 'live.connecting')
}
live.onState(showLiveState)

const appRoot = (): HTMLElement => document.getElementById('app') ?? document.body

function header(current: Route, u: User): HTMLElement {
  const navLink = (name: 'overview' | 'map' | 'devices' | 'alarms' | 'indicators' | 'rejected' | 'admin', label: string) =>
    h('a', {
      href: `#/${name}`,
      'data-testid': `nav-${name}`,
      class: 'nav-link',
      'aria-current': current.name === name || (name === 'devices' && current.name === 'device') ? 'page' : null,
    }, label)
  const liveStatus = h('span', { class: 'live', 'data-testid': 'live-status', 'data-state': 'connecting', role: 'status' }, h('span', { class: 'live-dot' }), h('span', { class: 'live-text' }, t('live.connecting')))
  liveIndicator = liveStatus
  showLiveState(liveState)
  const soundButton = h('button', {
    type: 'button', class: 'btn btn-ghost alarm-sound', 'data-testid': 'alarm-sound-toggle', title: t('alarmSound.title'),
    'aria-label': t('alarmSound.label'), onclick: () => alarmSound.set(!alarmSound.on),
  })
  soundToggle = soundButton
  showSound(alarmSound.on)
  const langButton = (lang: Lang) =>
    h('button', { type: 'button', class: 'lang', 'data-testid': `lang-${lang}`, 'aria-pressed': String(getLang() === lang), onclick: () => chooseLang(lang) }, lang.toUpperCase())
  return h('header', { class: 'topbar' },
    h('a', { class: 'brand', href: '#/overview' }, h('span', { class: 'brand-mark' }, '▦'), 'gridline'),
    h('nav', { class: 'nav' },
      navLink('overview', t('nav.overview')),
      navLink('map', t('nav.map')),
      navLink('devices', t('nav.devices')),
      navLink('alarms', t('nav.alarms')),
      navLink('indicators', t('nav.indicators')),
      canOperate(u.role) ? navLink('rejected', t('nav.rejected')) : null,
      u.role === 'admin' ? navLink('admin', t('nav.admin')) : null,
      u.role === 'admin' ? h('a', { href: '/flows', target: '_blank', rel: 'noopener', class: 'nav-link', 'data-testid': 'nav-flows' }, t('nav.flows'), ' ↗') : null,
    ),
    h('div', { class: 'topbar-right' },
      h('a', { href: '#/wall', class: 'btn btn-ghost', 'data-testid': 'nav-wall', title: t('wall.open') }, `⛶ ${t('nav.wall')}`),
      soundButton,
      liveStatus,
      h('span', { class: 'user' },
        h('span', { 'data-testid': 'user-name', class: 'user-name' }, u.name),
        h('span', { 'data-testid': 'user-role', class: 'user-role', 'data-role': u.role }, tOr(`role.${u.role}`, u.role)),
      ),
      h('span', { class: 'langs', role: 'group', 'aria-label': t('nav.language') }, langButton('vi'), langButton('en')),
      h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'logout', onclick: logout }, t('nav.logout')),
    ),
  )
}

async function logout(): Promise<void> {
  try {
    await api('/api/logout', { method: 'POST' })
  } catch {
    // The session may already be gone; the user still leaves.
  }
  user = undefined
  returnTo = '#/overview'
  location.hash = '#/login'
}

function unmountPage(): void {
  page?.unmount()
  page = undefined
}

/** The service path in `#/login?next=...`, when it is one of ours (`/flows...`); never another site. */
function serverPathAfterLogin(hash: string): string | undefined {
  const q = hash.indexOf('?')
  const next = q < 0 ? null : new URLSearchParams(hash.slice(q + 1)).get('next')
  return next !== null && /^\/flows(\/|$)/.test(next) ? next : undefined
}

/** Mounts the page for the current hash. */
function render(): void {
  const route = parseRoute(location.hash)
  const root = appRoot()
  if (route.name === 'login' || !user) {
    if (route.name !== 'login') {
      returnTo = location.hash || '#/overview'
      location.hash = '#/login'
      return
    }
    unmountPage()
    live.disconnect()
    page = mountLogin(root, {
      onLogin: (session) => {
        user = session.user
        // `/#/login?next=/flows`: a page of the service outside the app (Node-RED) sent the browser here.
        const next = serverPathAfterLogin(location.hash)
        if (next) {
          location.assign(next)
          return
        }
        const target = returnTo
        returnTo = '#/overview'
        location.hash = mayOpen(parseRoute(target), user.role) ? target : '#/overview'
      },
      chooseLang,
    })
    return
  }
  // Called on every hashchange (and on a language switch): mount the page afresh.
  unmountPage()
  if (route.name === 'wall') {
    // No header: a wall screen shows the city, not the app (docs/dashboards.md#wall-mode).
    const wall = h('main', { class: 'wall-root', id: 'main' })
    replace(root, wall)
    page = mountWall(wall, { user, live, route, canOperate: canOperate(user.role) }, route.query)
    return
  }
  const main = h('main', { class: 'page', id: 'main' })
  replace(root, header(route, user), main)
  const ctx: PageContext = { user, live, route, canOperate: canOperate(user.role) }
  if (!mayOpen(route, user.role)) {
    live.connect('kinds=alarm', { onEvent: () => {} })
    replace(main, h('p', { class: 'notice' }, t('app.forbidden')))
    return
  }
  switch (route.name) {
    case 'overview':
      page = mountOverview(main, ctx)
      break
    case 'map':
      page = mountMap(main, ctx, route.query)
      break
    case 'devices':
      page = mountDevices(main, ctx, route.query)
      break
    case 'device':
      page = mountDevice(main, ctx, route.id)
      break
    case 'alarms':
      page = mountAlarms(main, ctx, route.tab)
      break
    case 'admin':
      page = mountAdmin(main, ctx)
      break
    case 'rejected':
      page = mountRejected(main, ctx, route.query)
      break
    case 'indicators':
      page = mountIndicators(main, ctx, route.query)
      break
    case 'notFound':
      live.connect('kinds=alarm', { onEvent: () => {} })
      replace(main, h('p', { class: 'notice' }, t('app.notFound')))
      break
  }
}

async function start(): Promise<void> {
  applyLang(pickLang(storedLang(), navigator.language))
  setUnauthenticatedHandler(() => {
    user = undefined
    if (parseRoute(location.hash).name !== 'login') {
      returnTo = location.hash || '#/overview'
      location.hash = '#/login'
    }
  })
  window.addEventListener('hashchange', () => render())
  replace(appRoot(), h('p', { class: 'notice' }, t('app.loading')))
  // Who is signed in? 401 → login page; no service → show it and keep trying.
  for (let attempt = 0; ; attempt++) {
    try {
      // /api/session answers 200 with user null when nobody is signed in (no failed request in the browser's console).
      const session = await api<Session | { user: null }>('/api/session')
      user = session.user ?? undefined
      break
    } catch (error) {
      const status = (error as { status?: number }).status
      if (status === 401 || status === 403) break
      if (attempt === 0) replace(appRoot(), h('p', { class: 'notice', role: 'alert' }, t('app.error.network')))
      // The login page works without the service answering /api/me; show it if that is where we are.
      if (parseRoute(location.hash).name === 'login') break
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 1000 * 2 ** attempt)))
    }
  }
  if (user && parseRoute(location.hash).name === 'login') {
    const next = serverPathAfterLogin(location.hash)
    if (next) {
      location.assign(next)
      return
    }
    location.hash = '#/overview' // hashchange renders it
    return
  }
  render()
}

void start()
