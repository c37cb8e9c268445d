import { type InboundMessage, type MessageRoute, type Rejection, Rows, rejection } from '@gridline/core'
import { decodeFailure } from '@gridline/processors'
import { isReplyTopic, parseReplyTopic } from '@gridline/schemas'
import type { CommandService } from '../commands/command-service.ts'

/**
 * `replies/{domain}/{deviceId}`: a device's reply to a command
 * (docs/protocol.md#device-commands). The command service takes it without
 * waiting for the database, so a good reply has nothing to store and is
 * acknowledged at once (in order with the sender's earlier messages). A reply
 * on another device's topic, or one that is not a reply, is dead-lettered
 * and acknowledged after that commits. Without this route replies are
 * topic_invalid.
 */
export function repliesRoute(commands: Pick<CommandService, 'onReply'>, rejectedPayloadMaxBytes: number): MessageRoute {
  return {
    name: 'replies',
    matches: isReplyTopic,
    handle(message: InboundMessage) {
      const { topic, payload, principal } = message
      const target = parseReplyTopic(topic)!
      let refused: Rejection | null = null
      if ('invalid' in target) {
        refused = rejection(target.invalid, `"${topic.slice(0, 200)}" is not replies/{domain}/{deviceId}`, null, payload, rejectedPayloadMaxBytes)
      } else if (principal !== null && (principal.kind !== 'device' || principal.id !== target.deviceId || principal.domain !== target.domain)) {
        refused = rejection('topic_not_authorized', `${principal.kind} "${principal.id}" may not reply for ${target.domain}/${target.deviceId}; a device replies only on its own replies topic`, target.deviceId, payload, rejectedPayloadMaxBytes)
      } else {
        try {
          const result = commands.onReply(target.deviceId, target.domain, payload)
          if (!result.ok) refused = rejection(result.reason, result.detail, target.deviceId, payload, rejectedPayloadMaxBytes)
        } catch (err) {
          refused = decodeFailure(payload, err, target.deviceId, rejectedPayloadMaxBytes).rejections[0]!
        }
      }
      return { decoded: { rows: new Rows(), readings: 0, rejections: refused ? [refused] : [], unknownMetrics: 0, outOfRange: 0 } }
    },
  }
}
