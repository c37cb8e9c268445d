import pg from 'pg'
import { GridlineError } from '@gridline/core'
import type { RegisterDevices } from '@gridline/firmware-sim'
import { DeviceStore, pgSqlClient } from '@gridline/ingest'

/**
 * `gridline sim --register`: puts the simulated devices in the `devices` table
 * (DeviceStore.addMany), giving existing ids the new password. Hashing is
 * scrypt, tens of milliseconds per device by design, so large fleets go in
 * chunks with progress. It lives here, where the command composes the
 * workspaces, because the simulator depends only on the wire contract.
 */
export const registerDevices: RegisterDevices = async (databaseUrl, devices, onProgress = () => undefined) => {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  try {
    const store = new DeviceStore(pgSqlClient(pool))
    for (let i = 0; i < devices.length; i += 200) {
      await store.addMany(devices.slice(i, i + 200), { replaceCredentials: true })
      onProgress(Math.min(devices.length, i + 200))
    }
  } catch (err) {
    if (err instanceof GridlineError) throw err
    throw new GridlineError('GRIDLINE_DATABASE_UNREACHABLE', `Registering the devices failed: ${(err as Error).message}`, { cause: err })
  } finally {
    await pool.end()
  }
}
