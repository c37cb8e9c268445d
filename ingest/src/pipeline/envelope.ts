// The contracts live in core; re-exported where ingest's own code has always found them.
export { type Acknowledgement, type DeliveryStatus, type Envelope, envelopeRows } from '@gridline/core'
