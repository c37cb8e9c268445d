import { expect, test } from 'vitest'
import { createIngestMetrics } from './metrics.ts'

test('per-component counts carry the component id and type; a declared source shows at 0 before its first message', async () => {
  const metrics = createIngestMetrics()
  metrics.components.source('mqtt', 'mqtt_broker')
  metrics.components.source('http', 'http')
  metrics.components.received('mqtt', 10)
  metrics.components.received('mqtt', 5)
  // A message from an undeclared source (a test's hand-made envelope) is not counted anywhere.
  metrics.components.received(undefined, 3)
  metrics.components.received('other', 3)
  const text = await metrics.registry.metrics()
  expect(text).toContain('gridline_component_received_messages_total{component_id="mqtt",component_type="mqtt_broker"} 2')
  expect(text).toContain('gridline_component_received_readings_total{component_id="mqtt",component_type="mqtt_broker"} 15')
  expect(text).toContain('gridline_component_received_messages_total{component_id="http",component_type="http"} 0')
  expect(text).not.toContain('component_id="other"')
  // Collected again, the counters do not count twice.
  metrics.components.received('mqtt', 1)
  expect(await metrics.registry.metrics()).toContain('gridline_component_received_readings_total{component_id="mqtt",component_type="mqtt_broker"} 16')
})
