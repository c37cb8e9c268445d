import type { SparkplugMapping } from '@gridline/processors'
import type { DeviceRecord } from '../devices/device-store.ts'
import type { LiveDeviceDirectory } from '../devices/directory.ts'
import type { SparkplugConfig } from './config.ts'

/** The metadata key naming a device's Sparkplug device id, when it is not its registry id; `$node` takes the edge node's own metrics. */
export const SPARKPLUG_DEVICE_KEY = 'sparkplugDevice'
export const NODE_METRICS = '$node'

/**
 * Sparkplug names to the registry (docs/sparkplug.md#mapping): an edge node
 * is the registered gateway with its id; a Sparkplug device is the device
 * registered behind that gateway whose metadata `sparkplugDevice` is its
 * name, else whose id is; metrics are named by the configuration's maps
 * (device over node over all), else by the default rule.
 */
export function sparkplugMapping(registry: LiveDeviceDirectory, config: SparkplugConfig): SparkplugMapping {
  // gateway id -> Sparkplug device name -> device; built on first use, dropped when a registration changes.
  let behind: Map<string, Map<string, DeviceRecord>> | null = null
  registry.onAnyChange(() => { behind = null })
  const devicesOf = (gatewayId: string): Map<string, DeviceRecord> | undefined => {
    if (!behind) {
      behind = new Map()
      for (const d of registry.all()) {
        if (d.kind !== 'device' || d.gateway === null) continue
        let names = behind.get(d.gateway)
        if (!names) behind.set(d.gateway, (names = new Map()))
        const named = d.metadata[SPARKPLUG_DEVICE_KEY]
        if (typeof named === 'string' && named !== '') names.set(named, d)
        else if (!names.has(d.id)) names.set(d.id, d)
      }
    }
    return behind.get(gatewayId)
  }
  const view = (d: DeviceRecord) => ({ id: d.id, domain: d.kind === 'device' ? d.domain : null, gateway: d.gateway })
  return {
    gateway(edgeNode) {
      const g = registry.get(edgeNode)
      return g && g.kind === 'gateway' ? { id: g.id } : undefined
    },
    device(gatewayId, name) {
      if (name === NODE_METRICS) return undefined
      const found = devicesOf(gatewayId)?.get(name)
      if (found) return view(found)
      const elsewhere = registry.get(name)
      if (elsewhere) return elsewhere.kind === 'device' ? 'not_behind' : view(elsewhere)
      return undefined
    },
    nodeDevice(gatewayId) {
      const d = devicesOf(gatewayId)?.get(NODE_METRICS)
      return d ? view(d) : undefined
    },
    metric(name, edgeNode, device) {
      const node = config.nodes[edgeNode]
      if (node) {
        if (device !== null) {
          const own = node.devices[device]?.metrics
          if (own && Object.hasOwn(own, name)) return own[name]
        }
        if (Object.hasOwn(node.metrics, name)) return node.metrics[name]
      }
      return Object.hasOwn(config.metrics, name) ? config.metrics[name] : undefined
    },
  }
}

/** The configured write of command `<domain>.<action>` for a device of an edge node (device over node over all), or undefined. */
export function commandWrite(config: SparkplugConfig, edgeNode: string, device: string | null, command: string): SparkplugConfig['commands'][string] | undefined {
  const node = config.nodes[edgeNode]
  const own = device === null ? undefined : node?.devices[device]?.commands
  if (own && Object.hasOwn(own, command)) return own[command]
  if (node && Object.hasOwn(node.commands, command)) return node.commands[command]
  return Object.hasOwn(config.commands, command) ? config.commands[command] : undefined
}
