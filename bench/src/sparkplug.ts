/**
 * `sparkplug`: Sparkplug B DDATA through gridline's embedded broker against
 * gridline JSON of the very same readings on the same load, side by side in
 * one round (which goes first alternates by round). Each of `sparkplugNodes`
 * edge nodes is a registered gateway with one water device behind it
 * (metadata sparkplugDevice PLC1); it logs in as its gateway, sends NBIRTH
 * and a DBIRTH defining 10 Double metrics with aliases, then DDATA with the
 * 10 metrics by alias only and one timestamp. The JSON side logs in as the
 * same devices and publishes `{"ts","seq","values":{10 metrics}}` to
 * telemetry/water/<id>. Both at QoS 1, closed loop, payloads made before the
 * clock starts; rows stored per second, first PUBLISH to last PUBACK.
 */
import type { BenchDatabase } from './database.ts'
import { LoadSet, Target, progress } from './harness.ts'
import type { CountPhase } from './load-generator.ts'
import type { BatchedResult, RunContext, SparkplugResult } from './results.ts'
import { runCount } from './window.ts'
import { BENCH_PASSWORD, SPARKPLUG_DEVICE, SPARKPLUG_DOMAIN, SPARKPLUG_METRICS, sparkplugDeviceId, sparkplugGatewayId } from './workload.ts'

export async function measureSparkplug(ctx: RunContext, db: BenchDatabase, round: number): Promise<SparkplugResult> {
  const s = ctx.settings
  const nodes = Array.from({ length: s.sparkplugNodes }, (_, i) => ({ gateway: sparkplugGatewayId(i), device: sparkplugDeviceId(i) }))
  await db.addDevices([
    ...nodes.map((n) => ({ id: n.gateway, kind: 'gateway' as const, password: BENCH_PASSWORD })),
    ...nodes.map((n) => ({ id: n.device, domain: SPARKPLUG_DOMAIN, gateway: n.gateway, password: BENCH_PASSWORD, metadata: { sparkplugDevice: SPARKPLUG_DEVICE } })),
  ])
  const readingsPerMessage = SPARKPLUG_METRICS.length
  const phase: CountPhase = {
    kind: 'count', readingsPerMessage, messagesPerConnection: s.sparkplugMessagesPerNode, maxInflight: s.sparkplugMaxInflight,
    timeoutMs: s.countTimeoutMs, recordLatency: true,
  }
  // The data's rows only: the DBIRTH's values (stored too) are stamped a minute before the data.
  const dataRows = () => db.countInTimeRanges(nodes.map((n) => ({ deviceId: n.device, loMs: ctx.baseTimeMs, hiMs: ctx.baseTimeMs + s.sparkplugMessagesPerNode })))

  const run = async (kind: 'sparkplug' | 'water-json'): Promise<BatchedResult> => {
    await db.reset()
    progress(`round ${round}: sparkplug: ${kind === 'sparkplug' ? 'Sparkplug B DDATA' : 'gridline JSON'}, ${s.sparkplugNodes} x ${s.sparkplugMessagesPerNode} messages of ${readingsPerMessage} readings`)
    const target = await Target.start(ctx, 'gridline', db)
    try {
      const load = await LoadSet.start(ctx, `load-${kind}`, target.mqttPort, nodes.map((n) => (kind === 'sparkplug' ? n.gateway : n.device)))
      try {
        await load.prepare({ kind, messages: s.sparkplugMessagesPerNode }, s.countTimeoutMs)
        const { firstPublishEpochMs: _first, ...result } = await runCount(target, load, phase, db, s.sparkplugNodes, dataRows)
        return result
      } finally {
        await load.stop()
      }
    } finally {
      await target.stop()
    }
  }
  const first = round % 2 === 1 ? await run('sparkplug') : await run('water-json')
  const second = round % 2 === 1 ? await run('water-json') : await run('sparkplug')
  const [sparkplug, json] = round % 2 === 1 ? [first, second] : [second, first]
  return { nodes: s.sparkplugNodes, messagesPerNode: s.sparkplugMessagesPerNode, readingsPerMessage, sparkplug, json, ratio: sparkplug.readingsPerSecond / json.readingsPerSecond }
}
