import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GridlineError } from '@gridline/core'
import { describe, expect, test } from 'vitest'
import { edgeConfig, loadEdgeConfig } from './config.ts'

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url))

describe('edge config', () => {
  test.each(readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')))('the sample %s is valid', (file) => {
    const config = loadEdgeConfig(join(EXAMPLES, file), {})
    expect(config.gateway.id).toMatch(/^gw-/)
    expect(config.opcua.length + config.mqtt.length).toBeGreaterThan(0)
  })

  test('every problem is reported by its path, in one error', () => {
    let error: unknown
    try {
      edgeConfig({
        gateway: { id: 'bad id!' },
        dataDir: '/tmp/x',
        uplink: { url: 'http://nope', maxInFlightBatches: 0 },
        queue: { maxBytes: 100_000, segmentBytes: 80_000 },
        opcua: [{ name: 'ps', endpointUrl: 'opc.tcp://h:4840', nodes: [{ nodeId: 'ns=1;s=a', device: 'd', domain: 'Water', metric: 'level', deadband: { type: 'relative', value: 1 } }] }],
      })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(GridlineError)
    const message = (error as Error).message
    for (const path of ['gateway.id', 'uplink.url', 'uplink.maxInFlightBatches', 'queue.maxBytes', 'opcua.0.nodes.0.domain', 'opcua.0.nodes.0.deadband.type']) {
      expect(message).toContain(`${path}:`)
    }
  })

  test('environment overrides reach the documented keys, and OPC-UA passwords by server name', () => {
    const config = loadEdgeConfig(join(EXAMPLES, 'secure-plc.yaml'), {
      GRIDLINE_EDGE_UPLINK_PASSWORD: 'up-secret',
      GRIDLINE_EDGE_OPCUA_PASSWORD_PS_07: 'plc-secret',
      GRIDLINE_EDGE_QUEUE_MAX_BYTES: '33554432',
    })
    expect(config.uplink.password).toBe('up-secret')
    expect(config.queue.maxBytes).toBe(33_554_432)
    expect(config.opcua[0]!.auth).toEqual({ type: 'username', username: 'gridline-edge', password: 'plc-secret' })
  })
})
