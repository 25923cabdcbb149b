// The VIP proxy's routes for one workload (SPEC §6): every VIP the workload's table answers with,
// on every TCP port of its ServiceEntry, to the entry's backend.
import type { HostVips } from '../allocate/index.js';
import { flatName, type ServiceEntry, type ServiceEntryPort } from '../model/index.js';
import type { VipBackend, VipRoute } from '../vip/index.js';

/** Istio's port protocols all run over TCP except UDP (and SCTP, which we do not proxy). */
function isTcp(port: ServiceEntryPort): boolean {
  const p = port.protocol.toUpperCase();
  return p !== 'UDP' && p !== 'SCTP';
}

/** Endpoint port: the endpoint's own port of that name, else the targetPort, else the port number. */
function endpointsFor(se: ServiceEntry, port: ServiceEntryPort): VipBackend[] {
  return se.endpoints.map((ep) => ({
    address: ep.address,
    port: ep.ports[port.name] ?? port.targetPort ?? port.number,
  }));
}

/** One served host's routes; a wildcard host has no single backend to connect to and gets none. */
export function hostRoutes(h: HostVips): VipRoute[] {
  if (h.host.startsWith('*.')) return [];
  const se = h.entry;
  const routes: VipRoute[] = [];
  // One flat string for all of the host's routes (a string joined in place is kept as its pieces).
  const origin = flatName(`ServiceEntry ${se.meta.namespace}/${se.meta.name}`);
  for (const vip of [h.v4, h.v6]) {
    if (vip === undefined) continue;
    for (const port of se.ports.filter(isTcp)) {
      routes.push({
        vip,
        port: port.number,
        host: h.host,
        resolution: se.resolution,
        endpoints: endpointsFor(se, port),
        hostPort: port.targetPort ?? port.number,
        origin,
      });
    }
  }
  // Copied to its size: an array grown by pushes keeps room for 16 more (12,500 hosts: 1.5 MB kept by
  // the routes' mirror).
  return routes.length > 0 ? routes.slice() : routes;
}
