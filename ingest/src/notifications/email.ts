import nodemailer, { type Transporter } from 'nodemailer'
import { emailText, type NotificationBody } from './body.ts'
import type { EmailEndpoint, NotificationsConfig } from './config.ts'
import type { AttemptResult } from './webhook.ts'

/**
 * Sends alarm emails through one SMTP server (any: nodemailer's SMTP
 * transport). The Message-ID is derived from the idempotency key, so a
 * retried mail carries the same one and mail clients can fold duplicates.
 */
export class EmailSender {
  private transport: Transporter | undefined

  constructor(private readonly smtp: NotificationsConfig['smtp'], private readonly password: string | undefined) {}

  async send(endpoint: EmailEndpoint, body: NotificationBody): Promise<AttemptResult> {
    const { subject, text } = emailText(body, endpoint.subjectPrefix)
    try {
      await this.transporter().sendMail({
        from: this.smtp.from,
        to: endpoint.to,
        subject,
        text,
        messageId: `<${body.id}@gridline>`,
        headers: { 'X-Gridline-Idempotency-Key': body.id, 'X-Gridline-Alarm': body.alarm.id },
      })
      return { ok: true, status: 250 }
    } catch (err) {
      const e = err as { code?: string; responseCode?: number; message?: string }
      return { ok: false, ...(e.responseCode ? { status: e.responseCode } : {}), reason: `smtp ${e.code ?? 'error'}: ${e.message ?? String(err)}`.slice(0, 500) }
    }
  }

  close(): void {
    this.transport?.close()
    this.transport = undefined
  }

  private transporter(): Transporter {
    this.transport ??= nodemailer.createTransport({
      host: this.smtp.host,
      port: this.smtp.port,
      secure: this.smtp.secure,
      requireTLS: this.smtp.requireTLS,
      tls: { rejectUnauthorized: this.smtp.rejectUnauthorized },
      connectionTimeout: this.smtp.timeoutMs,
      greetingTimeout: this.smtp.timeoutMs,
      socketTimeout: this.smtp.timeoutMs,
      ...(this.smtp.user ? { auth: { user: this.smtp.user, pass: this.password ?? '' } } : {}),
    })
    return this.transport
  }
}
