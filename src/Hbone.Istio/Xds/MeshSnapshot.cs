using System.Collections.Immutable;
using Hbone.Istio.Protos.Security;
using Hbone.Istio.Protos.Workload;

namespace Hbone.Istio.Xds;

/// <summary>
/// One immutable view of the mesh as the control plane sent it. The messages are shared between snapshots: read them,
/// never change them.
/// </summary>
/// <param name="Workloads">Workloads by uid.</param>
/// <param name="Services">Services by <c>namespace/hostname</c>.</param>
/// <param name="Policies">Authorization policies by <c>namespace/name</c>.</param>
public sealed record MeshSnapshot(
    ImmutableDictionary<string, Workload> Workloads,
    ImmutableDictionary<string, Service> Services,
    ImmutableDictionary<string, Authorization> Policies)
{
    /// <summary>The snapshot before any update: nothing known.</summary>
    public static MeshSnapshot Empty { get; } = new(
        ImmutableDictionary.Create<string, Workload>(StringComparer.Ordinal),
        ImmutableDictionary.Create<string, Service>(StringComparer.Ordinal),
        ImmutableDictionary.Create<string, Authorization>(StringComparer.Ordinal));

    /// <summary>The key of a service: <c>namespace/hostname</c>, which is also its xDS resource name.</summary>
    public static string ServiceKey(Service service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return service.Namespace + "/" + service.Hostname;
    }

    /// <summary>The key of a policy: <c>namespace/name</c>, which is also its xDS resource name.</summary>
    public static string PolicyKey(Authorization policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Namespace + "/" + policy.Name;
    }
}
