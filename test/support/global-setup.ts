import type { TestProject } from 'vitest/node';
import { startDovecot } from './dovecot.js';

/**
 * Starts one Dovecot for the whole run and hands its facts to the test files, which read them with
 * `dovecotFromInjected()` (or `inject('dovecot')`). Each test file creates its own users, so files may run in
 * parallel. The returned teardown runs even when tests fail.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dovecot = await startDovecot();
  project.provide('dovecot', dovecot.facts);
  return () => dovecot.stop();
}
