// Replicas: every live replica sharing the store, with its generation,
// snapshot version and lag, and the background leases.

import { get } from './api.js';
import { h, section, time, code, pill, table, num } from './ui.js';

export async function render() {
  const r = await get('/api/replicas');
  return h('div', null,
    h('h1', null, 'Replicas'),
    h('p', null, `${r.replicas.length} live replica(s) (heartbeat within ${num(r.liveWithinMs)} ms); newest change version ${r.newestVersion}. This page was served by `, code(r.thisReplica), '.'),
    section('Live replicas', table('Replicas',
      ['Replica', 'Address', 'Version', 'Plugin generation', 'Snapshot version', 'Lag', 'Applied', 'Heartbeat', 'Started', 'Leases'],
      r.replicas.map((x) => [
        h('span', null, code(x.id), x.id === r.thisReplica ? [' ', pill('this one', 'neutral')] : null),
        x.address, x.version, String(x.pluginGeneration), String(x.appliedVersion),
        x.lag === 0 ? pill('0 changes behind', 'ok') : pill(`${x.lag} change(s) behind`, 'bad'),
        x.appliedAt ? time(x.appliedAt) : '—', time(x.heartbeatAt), time(x.startedAt),
        x.leases.length ? x.leases.join(', ') : '—']),
      { empty: 'No live replica (the list reads heartbeats from the store).' })),
    section('Leases', table('Leases', ['Lease', 'Holder', 'Acquired', 'Renewed', 'Expires', 'Held'],
      r.leases.map((l) => [l.name, code(l.holder), time(l.acquiredAt), time(l.renewedAt), time(l.expiresAt), l.held ? 'yes' : 'no (expired)']),
      { empty: 'No background lease (single SQLite process: it does all background work itself).' })));
}
