import {
  AttributeIds,
  ClientMonitoredItemGroup,
  type ClientSubscription,
  DataChangeFilter,
  DataChangeTrigger,
  type DataValue,
  DeadbandType,
  type MonitoringParametersOptions,
  TimestampsToReturn,
} from 'node-opcua'
import type { OpcuaServerConfig } from '../../config.ts'

type OpcuaNode = OpcuaServerConfig['nodes'][number]
type Defaults = OpcuaServerConfig['defaults']

export interface MonitorResult {
  /** Nodes the server refused (bad node id, unsupported deadband, ...), with its status code. */
  failed: Array<{ node: OpcuaNode; status: string }>
}

/**
 * Creates the monitored items of every node in as few CreateMonitoredItems
 * calls as possible: one per distinct set of monitoring parameters (sampling
 * interval, queue size, deadband) [OPC UA Part 4 5.12.2]. The server answers
 * per item, so a refused node does not stop the others.
 */
export async function monitorInBulk(
  subscription: ClientSubscription,
  nodes: readonly OpcuaNode[],
  defaults: Defaults,
  onValue: (node: OpcuaNode, dataValue: DataValue) => void,
): Promise<MonitorResult> {
  const groups = new Map<string, { parameters: MonitoringParametersOptions; nodes: OpcuaNode[] }>()
  for (const node of nodes) {
    const samplingInterval = node.samplingIntervalMs ?? defaults.samplingIntervalMs
    const queueSize = node.queueSize ?? defaults.queueSize
    const deadband = node.deadband ?? defaults.deadband
    const key = JSON.stringify([samplingInterval, queueSize, deadband ?? null])
    let group = groups.get(key)
    if (!group) {
      group = { parameters: { samplingInterval, queueSize, discardOldest: true, ...(deadband ? { filter: deadbandFilter(deadband) } : {}) }, nodes: [] }
      groups.set(key, group)
    }
    group.nodes.push(node)
  }
  const failed: MonitorResult['failed'] = []
  for (const { parameters, nodes: members } of groups.values()) {
    const items = members.map((n) => ({ nodeId: n.nodeId, attributeId: AttributeIds.Value }))
    let group: ClientMonitoredItemGroup
    try {
      group = ClientMonitoredItemGroup.create(subscription, items, parameters, TimestampsToReturn.Both)
    } catch (err) {
      // A node id that does not even parse: refuse that node alone and monitor the rest.
      const valid = members.filter((n) => parses(n.nodeId))
      for (const n of members) if (!valid.includes(n)) failed.push({ node: n, status: `unparsable node id: ${(err as Error).message}` })
      if (valid.length === members.length || valid.length === 0) continue
      const rest = await monitorInBulk(subscription, valid, { ...defaults, samplingIntervalMs: parameters.samplingInterval ?? defaults.samplingIntervalMs }, onValue)
      failed.push(...rest.failed)
      continue
    }
    group.on('changed', (_item, dataValue, index) => {
      const node = members[index]
      if (node) onValue(node, dataValue)
    })
    await new Promise<void>((resolve, reject) => {
      group.once('initialized', () => resolve())
      group.once('err', (message) => reject(new Error(`Creating monitored items failed: ${message}`)))
    })
    group.monitoredItems.forEach((item, i) => {
      if (item.statusCode && !item.statusCode.isGood()) failed.push({ node: members[i]!, status: item.statusCode.toString() })
    })
  }
  return { failed }
}

function deadbandFilter(deadband: NonNullable<Defaults['deadband']>): DataChangeFilter {
  return new DataChangeFilter({
    trigger: DataChangeTrigger.StatusValue,
    deadbandType: deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
    deadbandValue: deadband.value,
  })
}

function parses(nodeId: string): boolean {
  return /^(ns=\d+;)?[isgb]=.+$/.test(nodeId)
}
