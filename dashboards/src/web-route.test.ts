import { describe, expect, test } from 'vitest'
import { mayOpen, parseRoute, routeHash, type Route, wallSettings } from '../web/src/route.ts'

describe('hash routes', () => {
  test.each<[string, Route]>([
    ['', { name: 'overview' }],
    ['#', { name: 'overview' }],
    ['#/', { name: 'overview' }],
    ['#/overview', { name: 'overview' }],
    ['#/login', { name: 'login' }],
    ['#/devices', { name: 'devices', query: {} }],
    ['#/devices?q=hai%20chau&page=2', { name: 'devices', query: { q: 'hai chau', page: '2' } }],
    ['#/devices/sim-lamp-00001', { name: 'device', id: 'sim-lamp-00001' }],
    ['#/devices/a%2Fb', { name: 'device', id: 'a/b' }],
    ['#/devices/%E0%A4%A', { name: 'device', id: '%E0%A4%A' }],
    ['#/alarms', { name: 'alarms', tab: 'active' }],
    ['#/alarms?tab=history', { name: 'alarms', tab: 'history' }],
    ['#/admin', { name: 'admin' }],
    ['#/rejected', { name: 'rejected', query: {} }],
    ['#/rejected?device=aq-1&reason=value_invalid', { name: 'rejected', query: { device: 'aq-1', reason: 'value_invalid' } }],
    ['#/indicators', { name: 'indicators', query: {} }],
    ['#/indicators?name=vn_aqi_daily&scope=district&key=H%E1%BA%A3i%20Ch%C3%A2u&range=30d', { name: 'indicators', query: { name: 'vn_aqi_daily', scope: 'district', key: 'Hải Châu', range: '30d' } }],
    ['#/map', { name: 'map', query: {} }],
    ['#/map?domain=traffic&district=S%C6%A1n%20Tr%C3%A0&state=alarm', { name: 'map', query: { domain: 'traffic', district: 'Sơn Trà', state: 'alarm' } }],
    ['#/wall', { name: 'wall', query: {} }],
    ['#/wall?views=map,alarms&every=20', { name: 'wall', query: { views: 'map,alarms', every: '20' } }],
    ['#/wall/x', { name: 'notFound', path: '/wall/x' }],
    ['#/map/x', { name: 'notFound', path: '/map/x' }],
    ['#/indicators/x', { name: 'notFound', path: '/indicators/x' }],
    ['#/rejected/x', { name: 'notFound', path: '/rejected/x' }],
    ['#/nowhere', { name: 'notFound', path: '/nowhere' }],
    ['#/devices/x/y', { name: 'notFound', path: '/devices/x/y' }],
  ])('%s', (hash, route) => {
    expect(parseRoute(hash)).toEqual(route)
  })

  test.each<Route>([
    { name: 'overview' },
    { name: 'device', id: 'lamp 7/å' },
    { name: 'devices', query: { q: 'Hải Châu', status: 'online' } },
    { name: 'alarms', tab: 'history' },
    { name: 'admin' },
    { name: 'map', query: { domain: 'water', district: 'Ngũ Hành Sơn', state: 'offline' } },
    { name: 'rejected', query: { device: 'lamp 7/å', since: '24h' } },
    { name: 'indicators', query: { name: 'vn_aqi_daily', scope: 'district', key: 'Hải Châu & Sơn Trà', range: '7d' } },
  ])('routeHash round-trips %o', (route) => {
    expect(parseRoute(routeHash(route))).toEqual(route)
  })

  test('empty filters are left out of the devices hash', () => {
    expect(routeHash({ name: 'devices', query: { q: '', page: '' } })).toBe('#/devices')
  })

  test('empty choices are left out of the indicators hash, and every role may open it', () => {
    expect(routeHash({ name: 'indicators', query: { name: 'traffic_los', scope: '', key: '', range: '' } })).toBe('#/indicators?name=traffic_los')
    expect(routeHash({ name: 'indicators', query: {} })).toBe('#/indicators')
    expect(mayOpen({ name: 'indicators', query: {} }, 'viewer')).toBe(true)
  })

  test('the map\'s empty filters are left out of its hash, and every role may open it', () => {
    expect(routeHash({ name: 'map', query: { domain: '', district: 'Cẩm Lệ', state: '' } })).toBe('#/map?district=C%E1%BA%A9m+L%E1%BB%87')
    expect(routeHash({ name: 'map', query: {} })).toBe('#/map')
    expect(mayOpen({ name: 'map', query: {} }, 'viewer')).toBe(true)
  })

  test('only admins may open the admin page', () => {
    expect(mayOpen({ name: 'admin' }, 'admin')).toBe(true)
    expect(mayOpen({ name: 'admin' }, 'operator')).toBe(false)
    expect(mayOpen({ name: 'admin' }, 'viewer')).toBe(false)
    expect(mayOpen({ name: 'alarms', tab: 'active' }, 'viewer')).toBe(true)
  })

  test('operators and admins may open the refused messages, viewers may not (payloads)', () => {
    expect(mayOpen({ name: 'rejected', query: {} }, 'admin')).toBe(true)
    expect(mayOpen({ name: 'rejected', query: {} }, 'operator')).toBe(true)
    expect(mayOpen({ name: 'rejected', query: {} }, 'viewer')).toBe(false)
  })
})

describe('wall mode settings', () => {
  test.each<[Record<string, string>, ReturnType<typeof wallSettings>]>([
    [{}, { views: ['overview', 'map', 'alarms'], everyS: 30 }],
    [{ views: 'map,alarms', every: '20' }, { views: ['map', 'alarms'], everyS: 20 }],
    [{ views: 'alarms, indicators ,alarms,nowhere,admin' }, { views: ['alarms', 'indicators'], everyS: 30 }],
    [{ views: 'admin,rejected' }, { views: ['overview', 'map', 'alarms'], everyS: 30 }],
    [{ every: '1' }, { views: ['overview', 'map', 'alarms'], everyS: 5 }],
    [{ every: '99999' }, { views: ['overview', 'map', 'alarms'], everyS: 3_600 }],
    [{ every: 'soon' }, { views: ['overview', 'map', 'alarms'], everyS: 30 }],
    [{ every: '' }, { views: ['overview', 'map', 'alarms'], everyS: 30 }],
  ])('%j', (query, expected) => {
    expect(wallSettings(query)).toEqual(expected)
  })

  test('any role may open it: it shows only what the views show that role', () => {
    for (const role of ['viewer', 'operator', 'admin']) expect(mayOpen({ name: 'wall', query: {} }, role)).toBe(true)
  })
})
