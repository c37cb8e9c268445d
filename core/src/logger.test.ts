import { Writable } from 'node:stream'
import { expect, test } from 'vitest'
import { createLogger, redactUrl } from './logger.ts'

function capture() {
  const lines: string[] = []
  const destination = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done() } })
  return { logger: createLogger({ level: 'debug', destination }), lines }
}

test('secrets are redacted wherever they appear in a logged object', async () => {
  const { logger, lines } = capture()
  logger.info({ password: 'hunter2', device: { id: 'd1', password: 'p4ss', passwordHash: 'scrypt$...' } }, 'Registered a device.')
  await new Promise((resolve) => setImmediate(resolve))
  const line = lines.join('')
  expect(line).toContain('"id":"d1"')
  for (const secret of ['hunter2', 'p4ss', 'scrypt$']) expect(line).not.toContain(secret)
})

test('errors are logged with fixed fields, never the objects they carry', async () => {
  const { logger, lines } = capture()
  const err = Object.assign(new Error('terminating connection'), { code: '57P01', client: { connectionParameters: { user: 'u', password: 'db-secret' } } })
  logger.warn({ err }, 'The connection failed.')
  await new Promise((resolve) => setImmediate(resolve))
  const logged = JSON.parse(lines.join('')).err
  expect(logged).toMatchObject({ type: 'Error', message: 'terminating connection', code: '57P01' })
  expect(JSON.stringify(logged)).not.toContain('db-secret')
  expect(logged.client).toBeUndefined()
})

test('database URLs are logged without their password', () => {
  expect(redactUrl('postgres://user:s3cret@db:5432/x')).toBe('postgres://user:***@db:5432/x')
  expect(redactUrl('not a url')).toBe('[unparseable url]')
})
