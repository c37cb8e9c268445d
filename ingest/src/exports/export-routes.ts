import { GridlineError, type Logger } from '@gridline/core'
import type { FastifyInstance, preHandlerHookHandler } from 'fastify'
import type pg from 'pg'
import { REPORT_CSS, airQualityReport, parseReportParams, reportCsv, reportHtml } from './aq-report.ts'
import { exportFilename, parseExportRequest } from './export-query.ts'
import { streamExport } from './export-stream.ts'

export interface ExportRouteDeps {
  pool: pg.Pool
  devices: { get(id: string): unknown }
  logger: Logger
  /** The console's viewer check (requireRole(sessions, 'viewer')). */
  viewer: preHandlerHookHandler
}

/** `attachment` with an ASCII name and the RFC 6266 / RFC 8187 form for clients that read it. */
export function attachment(filename: string): string {
  return `attachment; filename="${filename.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(filename)}`
}

/** Exports and the daily air-quality report under /api (docs/exports.md). */
export function registerExportRoutes(app: FastifyInstance, deps: ExportRouteDeps): void {
  const viewer = { preHandler: deps.viewer }

  app.get('/api/export/:kind', viewer, async (req, reply) => {
    const request = parseExportRequest((req.params as { kind: string }).kind, req.query as Record<string, string | undefined>)
    if (request.device && !deps.devices.get(request.device)) throw new GridlineError('GRIDLINE_DEVICE_NOT_FOUND', `No device "${request.device}" is registered.`)
    reply.hijack()
    const res = reply.raw
    res.statusCode = 200
    res.setHeader('content-type', request.format === 'csv' ? 'text/csv; charset=utf-8; header=present' : 'application/x-ndjson; charset=utf-8')
    res.setHeader('content-disposition', attachment(exportFilename(request)))
    res.setHeader('cache-control', 'no-store')
    try {
      await streamExport(deps.pool, request, res)
    } catch (err) {
      if (!res.headersSent) {
        deps.logger.error({ err, url: req.url }, 'An export failed before it started.')
        res.statusCode = 500
        res.setHeader('content-type', 'application/json; charset=utf-8')
        res.removeHeader('content-disposition')
        res.end(JSON.stringify({ error: { code: 'GRIDLINE_INTERNAL', message: 'The export failed inside the service; it is logged.' } }))
      } else {
        // Mid-stream: the browser went away, or the database did. A cut response, never a silently short file that looks whole.
        deps.logger.debug({ err, url: req.url }, 'An export ended before its last row.')
        res.destroy()
      }
    }
  })

  app.get('/api/reports/air-quality.css', viewer, async (_req, reply) =>
    reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'private, max-age=3600').send(REPORT_CSS))

  app.get('/api/reports/air-quality', viewer, async (req, reply) => {
    const { district, date, format } = parseReportParams(req.query as Record<string, string | undefined>)
    const report = await airQualityReport(deps.pool, district, date)
    if (format === 'json') return report
    if (format === 'csv') {
      return reply.header('content-type', 'text/csv; charset=utf-8; header=present')
        .header('content-disposition', attachment(`air-quality-${district}-${date}.csv`))
        .send(reportCsv(report))
    }
    return reply.header('content-type', 'text/html; charset=utf-8').send(reportHtml(report, '/api/reports/air-quality.css'))
  })
}
