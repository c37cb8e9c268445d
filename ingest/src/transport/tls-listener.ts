import { readFileSync, statSync } from 'node:fs'
import type { Socket } from 'node:net'
import { type SecureContextOptions, type Server, type TLSSocket, createSecureContext, createServer } from 'node:tls'
import { GridlineError, type Logger } from '@gridline/core'

const HANDSHAKE_TIMEOUT_MS = 10_000

export interface TlsListenerOptions {
  host: string
  /** 0 picks a free port. */
  port: number
  certFile: string
  keyFile: string
  /** When set, client certificates are requested and verified against it. */
  caFile?: string | undefined
  /** How often the files are checked for changes. */
  reloadIntervalMs: number
  maxConnections: number
  /** Names the listener in errors and logs: `mqtt` (config path mqtt.tls, env MQTT_TLS_PORT) or a source id. */
  label?: { protocol: string; configPath: string; env?: string }
}

export interface TlsListenerEvents {
  /** A connection whose handshake finished and whose certificate, if any, verified. */
  onConnection(socket: TLSSocket): void
  /** A connection closed before any protocol byte: failed handshake or a client certificate that did not verify. */
  onRefused(reason: 'tls_handshake' | 'bad_certificate'): void
  onReload(result: 'ok' | 'failed'): void
}

/**
 * A TLS listener: MQTT over TLS (port 8883 by default) and the HTTP source's
 * HTTPS (its sockets handed to an http.Server). Its certificate, key and
 * CA are read from disk at start and again whenever one of the files changes
 * (checked every `reloadIntervalMs`): new connections get the new context
 * through `server.setSecureContext`, open ones keep theirs. A file that does
 * not load (half written, say) keeps the last good context and is retried at
 * the next check.
 *
 * Client certificates are optional so that password devices without one keep
 * working: `requestCert` with `rejectUnauthorized: false`, then a presented
 * certificate that did not verify (another CA, expired) closes the
 * connection before any protocol byte is read.
 */
export class TlsListener {
  private server: Server | undefined
  private timer: NodeJS.Timeout | undefined
  private stamp = ''

  constructor(private readonly options: TlsListenerOptions, private readonly events: TlsListenerEvents, private readonly logger: Logger) {}

  private get label(): { protocol: string; configPath: string; env?: string } {
    return this.options.label ?? { protocol: 'MQTT', configPath: 'mqtt.tls', env: 'MQTT_TLS_PORT' }
  }

  async listen(): Promise<number> {
    const o = this.options
    this.stamp = this.fileStamp()
    let context: SecureContextOptions
    try {
      context = this.readContext()
      createSecureContext(context)
    } catch (err) {
      throw new GridlineError('GRIDLINE_CONFIG_INVALID', `${this.label.configPath}: ${(err as Error).message}`, { cause: err })
    }
    // A handshake not finished within 10 s is dropped (Node's default is 120 s): unauthenticated connections stay cheap.
    const server = createServer({ ...context, requestCert: o.caFile !== undefined, rejectUnauthorized: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, (socket) => {
      if (o.caFile !== undefined && !socket.authorized && hasPeerCertificate(socket)) {
        this.logger.debug({ remoteAddress: socket.remoteAddress, error: String(socket.authorizationError) }, 'Refused a TLS connection: its client certificate did not verify.')
        this.events.onRefused('bad_certificate')
        socket.destroy()
        return
      }
      this.events.onConnection(socket)
    })
    server.on('tlsClientError', (err: Error, socket: Socket) => {
      this.logger.debug({ err: err.message, remoteAddress: socket.remoteAddress }, 'A TLS handshake failed.')
      this.events.onRefused('tls_handshake')
    })
    server.maxConnections = o.maxConnections
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE'
          ? new GridlineError('GRIDLINE_PORT_IN_USE', `${this.label.protocol} TLS port ${o.port} on ${o.host} is already in use; set ${this.label.env ? `${this.label.env} or ` : ''}${this.label.configPath}.port.`, { cause: err })
          : err)
      })
      server.listen(o.port, o.host, () => resolve())
    })
    this.timer = setInterval(() => this.reloadIfChanged(), o.reloadIntervalMs)
    this.timer.unref()
    const address = server.address()
    return typeof address === 'object' && address ? address.port : o.port
  }

  get listening(): boolean {
    return this.server?.listening ?? false
  }

  /** Stops accepting; open connections are closed by the broker. */
  close(): void {
    clearInterval(this.timer)
    this.server?.close()
  }

  /** Reloads when a file's size, mtime or inode changed since the last load. */
  reloadIfChanged(): void {
    const stamp = this.fileStamp()
    if (stamp === this.stamp || !this.server) return
    try {
      const context = this.readContext()
      this.server.setSecureContext(context)
      this.stamp = stamp
      this.events.onReload('ok')
      this.logger.info({ certFile: this.options.certFile }, `Reloaded the ${this.label.protocol} TLS certificate; new connections use it.`)
    } catch (err) {
      // Keep the stamp: retried at the next check, and counted once per change.
      if (this.stamp !== `failed:${stamp}`) {
        this.events.onReload('failed')
        this.logger.warn({ err: (err as Error).message }, `The changed ${this.label.protocol} TLS files do not load; keeping the previous certificate.`)
      }
      this.stamp = `failed:${stamp}`
    }
  }

  private readContext(): SecureContextOptions {
    const o = this.options
    const read = (key: string, file: string) => {
      try {
        return readFileSync(file)
      } catch (err) {
        throw new Error(`${key} ${file} cannot be read: ${(err as Error).message}`, { cause: err })
      }
    }
    return {
      cert: read('certFile', o.certFile),
      key: read('keyFile', o.keyFile),
      ...(o.caFile !== undefined ? { ca: read('caFile', o.caFile) } : {}),
    }
  }

  private fileStamp(): string {
    const o = this.options
    return [o.certFile, o.keyFile, o.caFile].map((file) => {
      if (file === undefined) return '-'
      try {
        const s = statSync(file)
        return `${s.ino}:${s.size}:${s.mtimeMs}`
      } catch {
        return 'missing'
      }
    }).join('|')
  }
}

function hasPeerCertificate(socket: TLSSocket): boolean {
  const cert = socket.getPeerCertificate()
  return cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0
}
