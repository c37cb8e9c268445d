// The real ingest service for the edge agent's integration tests. It lives in
// cli, which composes the workspaces: the agent itself may depend only on
// schemas and core, and speaks to the service over MQTT.
import { GATEWAY_PASSWORD } from '@gridline/edge-agent/testing'
import { DeviceStore, type IngestService, pgSqlClient } from '@gridline/ingest'
import { type TestDatabase, startTestService } from '@gridline/ingest/testing'

/** The real ingest service on a test database (kept at stop), MQTT and HTTP on free ports. */
export async function startIngest(db: TestDatabase): Promise<{ service: IngestService; mqttPort: number }> {
  const t = await startTestService({ database: db })
  return { service: t.service, mqttPort: t.mqttPort }
}

/** Registers the gateway and the devices behind it (the ingest service must have migrated the database). */
export async function registerGateway(db: TestDatabase, gatewayId: string, devices: Array<{ id: string; domain: string }>): Promise<void> {
  const store = new DeviceStore(pgSqlClient(db.pool))
  await store.add({ id: gatewayId, kind: 'gateway', password: GATEWAY_PASSWORD })
  for (const d of devices) await store.add({ id: d.id, domain: d.domain, gateway: gatewayId, password: 'unused device password' })
}
