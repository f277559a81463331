// Which CLI bundles in the cache may go (bin/pop3-bridge.js). A bundle of an earlier source tree is dead weight
// only once no running CLI uses it: a long `pop3-bridge run` starts its event workers from its own bundle file
// (functions/local/event-worker.ts), on the first event and again after a worker crashed. Deleting that file
// under it (any other command after a source change or an upgrade rebuilt the bundle, or another checkout
// sharing ~/.cache did) made every later worker fail with "Cannot find module", and every webhook retry on its
// way to the dead letters until run was restarted. So each CLI marks its bundle as held while it runs:
// `<bundle>.pid-<pid>`, removed when it exits; a marker whose process is gone (SIGKILL) counts for nothing.
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const MARKER = /^(cli-[0-9a-f]+\.mjs)\.pid-(\d+)$/;

/** Marks `bundle` (a file name in `dir`) as used by this process until it exits. */
export function holdBundle(dir, bundle) {
  const marker = path.join(dir, `${bundle}.pid-${process.pid}`);
  try {
    writeFileSync(marker, '');
  } catch {
    return; // a cache we cannot write to: nothing there is ours to protect or remove
  }
  process.on('exit', () => rmSync(marker, { force: true }));
}

/** Whether process `pid` is running (EPERM: it is, under another user). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * Removes the bundles (and their source maps) of other source trees that no live process holds, and the markers
 * of processes that are gone. `current` is the bundle this process uses. Returns the names removed.
 */
export function removeUnusedBundles(dir, current, alive = isAlive) {
  const names = readdirSync(dir);
  const held = new Set([current]);
  const removed = [];
  const remove = (name) => {
    rmSync(path.join(dir, name), { force: true });
    removed.push(name);
  };
  for (const name of names) {
    const marker = MARKER.exec(name);
    if (marker === null) continue;
    if (alive(Number(marker[2]))) held.add(marker[1]);
    else remove(name);
  }
  for (const name of names) {
    if (!name.startsWith('cli-') || MARKER.test(name)) continue;
    const bundle = name.endsWith('.map') ? name.slice(0, -'.map'.length) : name;
    if (!held.has(bundle)) remove(name);
  }
  return removed;
}
