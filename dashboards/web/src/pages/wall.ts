import type { Page, PageContext } from '../context.ts'
import { h, replace, setAttr, setText } from '../dom.ts'
import { formatTime } from '../format.ts'
import { getLang, t } from '../i18n.ts'
import { type WallView, wallSettings } from '../route.ts'
import { mountAlarms } from './alarms.ts'
import { mountIndicators } from './indicators.ts'
import { mountMap } from './map.ts'
import { mountOverview } from './overview.ts'

/**
 * Wall mode for the operation centre's big screens (`#/wall`, docs/dashboards.md#wall-mode):
 * the chosen views one after the other, each for `every` seconds, full screen, in large
 * type, with no navigation and no controls: a screen nobody touches. Read-only whatever
 * the user's role (no acknowledging or commanding from a wall). A corner shows the view,
 * the time and when the next view comes; any key or click there leaves for the overview.
 */
export function mountWall(root: HTMLElement, ctx: PageContext, query: Record<string, string>): Page {
  const { views, everyS } = wallSettings(query)
  const readOnly: PageContext = { ...ctx, canOperate: false }
  const stage = h('div', { class: 'wall-stage', 'data-testid': 'wall-stage' })
  const title = h('span', { class: 'wall-view', 'data-testid': 'wall-view' })
  const clock = h('span', { class: 'wall-clock', 'data-testid': 'wall-clock' })
  const next = h('span', { class: 'wall-next muted' })
  const exit = h('a', { class: 'wall-exit', href: '#/overview', 'data-testid': 'wall-exit', title: t('wall.exit') }, '✕')
  const wall = h('div', { class: 'wall', 'data-testid': 'wall', 'data-views': views.join(',') },
    h('div', { class: 'wall-corner' }, title, clock, next, exit),
    stage,
  )
  replace(root, wall)
  document.documentElement.classList.add('wall-mode')

  let index = -1
  let current: Page | undefined
  let shownAt = 0
  const show = (i: number): void => {
    current?.unmount()
    index = i % views.length
    const view = views[index]!
    shownAt = Date.now()
    setAttr(wall, 'data-view', view)
    setText(title, t(`nav.${view}`))
    const inner = h('div', { class: 'wall-page page' })
    replace(stage, inner)
    current = mountView(view, inner, readOnly)
  }
  const tick = (): void => {
    const now = Date.now()
    setText(clock, formatTime(now, getLang()))
    if (views.length > 1) setText(next, t('wall.next', { view: t(`nav.${views[(index + 1) % views.length]!}`), seconds: Math.max(0, Math.ceil(everyS - (now - shownAt) / 1000)) }))
  }
  show(0)
  tick()
  const clockTimer = setInterval(tick, 1000)
  const rotateTimer = views.length > 1 ? setInterval(() => show(index + 1), everyS * 1000) : undefined
  // A wall screen is not operated; a key press is someone who means to leave it.
  const onKey = (e: KeyboardEvent): void => { if (e.key === 'Escape') location.hash = '#/overview' }
  window.addEventListener('keydown', onKey)

  return {
    unmount() {
      clearInterval(clockTimer)
      if (rotateTimer) clearInterval(rotateTimer)
      window.removeEventListener('keydown', onKey)
      current?.unmount()
      document.documentElement.classList.remove('wall-mode')
    },
  }
}

function mountView(view: WallView, root: HTMLElement, ctx: PageContext): Page {
  switch (view) {
    case 'overview':
      return mountOverview(root, ctx)
    case 'map':
      return mountMap(root, ctx, {})
    case 'alarms':
      return mountAlarms(root, ctx, 'active')
    case 'indicators':
      return mountIndicators(root, ctx, {})
  }
}
