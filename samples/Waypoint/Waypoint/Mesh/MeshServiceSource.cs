using System.Net;
using Hbone.Identity;
using Hbone.Istio.Protos.Workload;
using Hbone.Istio.Xds;

namespace Waypoint.Mesh;

/// <summary>
/// The services istiod sends, as the waypoint routes them: one per VIP and service port, whose pods are the healthy
/// HBONE workloads that list the service, on the port they map it to (the workload's mapping, else the service's), with
/// the identity of their service account. Read from the latest <see cref="IstioMeshState"/> snapshot, so an xDS change
/// applies to the next CONNECT.
/// </summary>
/// <param name="mesh">The mesh, kept up to date by a delta xDS client.</param>
/// <param name="trustDomain">The trust domain of a workload that names none.</param>
public sealed class MeshServiceSource(IstioMeshState mesh, string trustDomain) : IWaypointServiceSource
{
    private Converted _last = new(MeshSnapshot.Empty, []);

    /// <inheritdoc />
    public IReadOnlyList<WaypointService> Services
    {
        get
        {
            MeshSnapshot snapshot = mesh.Current;
            Converted last = Volatile.Read(ref _last);
            if (!ReferenceEquals(last.Snapshot, snapshot))
            {
                last = new Converted(snapshot, Convert(snapshot, trustDomain));
                Volatile.Write(ref _last, last);
            }

            return last.Services;
        }
    }

    /// <summary>The waypoint's services in one snapshot of the mesh.</summary>
    public static IReadOnlyList<WaypointService> Convert(MeshSnapshot snapshot, string trustDomain)
    {
        ArgumentNullException.ThrowIfNull(snapshot);

        // A workload lists the services it belongs to ("namespace/hostname"); only pods reachable over HBONE are endpoints.
        var members = new Dictionary<string, List<Workload>>(StringComparer.Ordinal);
        foreach (Workload workload in snapshot.Workloads.Values.OrderBy(w => w.Uid, StringComparer.Ordinal))
        {
            if (workload.TunnelProtocol != TunnelProtocol.Hbone || workload.Status != WorkloadStatus.Healthy || workload.Addresses.Count == 0)
            {
                continue;
            }

            foreach (string key in workload.Services.Keys)
            {
                (members.TryGetValue(key, out List<Workload>? list) ? list : members[key] = []).Add(workload);
            }
        }

        var services = new List<WaypointService>();
        foreach (Service service in snapshot.Services.Values.OrderBy(MeshSnapshot.ServiceKey, StringComparer.Ordinal))
        {
            string key = MeshSnapshot.ServiceKey(service);
            IReadOnlyList<Workload> pods = members.GetValueOrDefault(key) ?? [];
            foreach (NetworkAddress vip in service.Addresses)
            {
                var vipAddress = new IPAddress(vip.Address.Span);
                foreach (Port port in service.Ports)
                {
                    services.Add(new WaypointService
                    {
                        Hostname = service.Hostname,
                        Vip = new IPEndPoint(vipAddress, (int)port.ServicePort).ToString(),
                        Endpoints = [.. pods.Select(pod => Endpoint(pod, key, port, vipAddress, trustDomain)).OfType<WaypointEndpoint>()],
                    });
                }
            }
        }

        return services;
    }

    // As ztunnel: the pod's address of the VIP's family when it has one, else its first; no target port, no endpoint.
    private static WaypointEndpoint? Endpoint(Workload pod, string serviceKey, Port port, IPAddress vip, string trustDomain)
    {
        uint target = pod.Services[serviceKey].Ports.FirstOrDefault(p => p.ServicePort == port.ServicePort && p.TargetPort != 0)?.TargetPort ?? port.TargetPort;
        if (target == 0)
        {
            return null;
        }

        IPAddress[] addresses = [.. pod.Addresses.Select(a => new IPAddress(a.Span))];
        IPAddress address = addresses.FirstOrDefault(a => a.AddressFamily == vip.AddressFamily) ?? addresses[0];
        string account = pod.ServiceAccount.Length > 0 ? pod.ServiceAccount : "default";
        return new WaypointEndpoint
        {
            Address = new IPEndPoint(address, (int)target).ToString(),
            Identity = SpiffeId.ForIstio(pod.TrustDomain.Length > 0 ? pod.TrustDomain : trustDomain, pod.Namespace, account).ToString(),
        };
    }

    private sealed record Converted(MeshSnapshot Snapshot, IReadOnlyList<WaypointService> Services);
}
