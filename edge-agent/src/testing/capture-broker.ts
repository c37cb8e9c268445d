import { type Server, createServer } from 'node:net'
import { type Server as TlsServer, createServer as createTlsServer } from 'node:tls'
import { Aedes } from 'aedes'

export interface CapturedReading {
  device: string
  seq: number
  values: Record<string, number | boolean>
  backfill?: boolean
}

/**
 * An in-process aedes broker on a free port that keeps every gateway batch it
 * receives, for tests that check what the uplink sends without the ingest
 * service. aedes sends the PUBACK once the message is handled, as a broker does.
 * With `tls` it listens behind node:tls (an `mqtts://` endpoint).
 */
export async function startCaptureBroker(options: { tls?: { key: Buffer; cert: Buffer } } = {}): Promise<{
  port: number
  batches: CapturedReading[][]
  readings(): CapturedReading[]
  /** TLS handshakes the server saw fail (the client refused the certificate, ...). */
  tlsErrors: Error[]
  stop(): Promise<void>
}> {
  const broker = await Aedes.createBroker()
  const batches: CapturedReading[][] = []
  const tlsErrors: Error[] = []
  broker.on('publish', (packet) => {
    if (!packet.topic.startsWith('gateways/')) return
    const batch = JSON.parse(packet.payload.toString()) as { readings: CapturedReading[] }
    batches.push(batch.readings)
  })
  let server: Server | TlsServer
  if (options.tls) {
    const tlsServer = createTlsServer({ key: options.tls.key, cert: options.tls.cert }, broker.handle)
    tlsServer.on('tlsClientError', (err) => void tlsErrors.push(err))
    server = tlsServer
  } else {
    server = createServer(broker.handle)
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as { port: number }).port
  return {
    port,
    batches,
    readings: () => batches.flat(),
    tlsErrors,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await new Promise<void>((resolve) => broker.close(() => resolve()))
    },
  }
}
