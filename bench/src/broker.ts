/**
 * `broker`: the embedded aedes broker (as gridline runs it, no auth, in its
 * own process, nothing behind it) against the machine's Mosquitto, under the
 * same loopback load from the same generators, QoS 1 and QoS 0; and the same
 * loads against the do-nothing sink, the generators' ceiling.
 *
 * QoS 1 is the ingest-single load: 1 reading per message, closed loop,
 * PUBACKs per second. QoS 0 has no acknowledgement to count, so each
 * connection sends runs of QoS 0 messages closed by one QoS 1 message (see
 * WindowPhase.qos); the fence's PUBACK counts the run as taken in.
 */
import { LoadSet, type Observed, Target, progress } from './harness.ts'
import type { WindowPhase } from './load-generator.ts'
import { MosquittoTarget } from './mosquitto.ts'
import type { BenchSettings, BrokerResult, RunContext, WindowSummary } from './results.ts'
import { devices } from './workload.ts'
import { runWindow, singleClosedLoop } from './window.ts'

export function qos0ClosedLoop(s: BenchSettings): WindowPhase {
  return { ...singleClosedLoop(s), qos: 0, qos0PerFence: s.qos0PerFence, maxInflight: s.qos0FencesInflight, recordLatency: false }
}

export async function measureBroker(ctx: RunContext, round: number): Promise<BrokerResult> {
  const s = ctx.settings
  const ids = devices(s.singleConnections)
  const both = async (name: string, target: Observed, port: number, topicPrefix?: string) => {
    const load = await LoadSet.start(ctx, `load-broker-${name}`, port, ids, { topicPrefix })
    try {
      // The sink is JIT-cold where a broker is compiled C: let it warm up before it sets the ceiling.
      if (name === 'null-sink') await runWindow(target, load, { ...singleClosedLoop(s), windowMs: s.warmupMs }, null, null)
      progress(`round ${round}: broker: ${name}, QoS 1`)
      const qos1 = await runWindow(target, load, singleClosedLoop(s), null, null)
      progress(`round ${round}: broker: ${name}, QoS 0`)
      const qos0 = await runWindow(target, load, qos0ClosedLoop(s), null, null)
      return { qos1, qos0 }
    } finally {
      await load.stop()
    }
  }
  const inProcess = async (kind: 'null-sink' | 'bare-aedes') => {
    const target = await Target.start(ctx, kind, null)
    try {
      return await both(kind, target, target.mqttPort)
    } finally {
      await target.stop()
    }
  }
  const sink = await inProcess('null-sink')
  const aedes = await inProcess('bare-aedes')
  // Topics of this run only: other clients of the machine's Mosquitto never see them.
  const mosquitto = await both('mosquitto', await MosquittoTarget.find(s.mosquittoPort, s), s.mosquittoPort, `gridline-bench/${ctx.runId}/`)
  return {
    qos1: { aedes: aedes.qos1, mosquitto: mosquitto.qos1, sink: sink.qos1 },
    qos0: { aedes: aedes.qos0, mosquitto: mosquitto.qos0, sink: sink.qos0 },
  }
}

/** aedes over Mosquitto, QoS 1 and QoS 0, within one round. */
export function aedesShare(b: BrokerResult): { qos1: number; qos0: number } {
  const share = (a: WindowSummary, m: WindowSummary) => a.ackedPerSecond / m.ackedPerSecond
  return { qos1: share(b.qos1.aedes, b.qos1.mosquitto), qos0: share(b.qos0.aedes, b.qos0.mosquitto) }
}
