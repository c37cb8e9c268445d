// Test oracles other workspaces' tests check the processors against
// (`@gridline/processors/testing`); never imported by the service.
export { independentHourlyVnAqi } from './indicators/air-quality/vn-aqi-reference.ts'
