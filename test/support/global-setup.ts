// Placeholder until the Dovecot harness lands: replaced by test/support/dovecot.ts wiring.
export default function setup(): void {}
