using Hbone.Istio.Protos.Security;
using Hbone.Istio.Protos.Workload;
using WorkloadAddress = Hbone.Istio.Protos.Workload.Address;

namespace Hbone.Istio.Xds;

/// <summary>
/// The mesh as istiod sends it (workloads, services, L4 policies), kept as immutable snapshots a gateway or the ztunnel can
/// read without locks. Subscribe it with <see cref="IstioXdsClientExtensions.SubscribeIstio"/>.
/// </summary>
public sealed class IstioMeshState : IXdsHandler<WorkloadAddress>, IXdsHandler<Authorization>
{
    private readonly Lock _write = new();
    private MeshSnapshot _current = MeshSnapshot.Empty;

    /// <summary>Raised after each applied batch with the new snapshot (on the xDS client's loop: return quickly).</summary>
    public event EventHandler<MeshSnapshot>? Changed;

    /// <summary>The latest snapshot.</summary>
    public MeshSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Applies a batch of addresses: valid ones are stored, invalid ones are returned as rejections by name.</summary>
    /// <param name="update">The batch. A removed name is tried as a workload uid, then as a service <c>namespace/hostname</c>.</param>
    /// <returns>The addresses refused.</returns>
    public IReadOnlyList<XdsRejection> Apply(XdsUpdate<WorkloadAddress> update)
    {
        ArgumentNullException.ThrowIfNull(update);
        List<XdsRejection> rejections = [];
        MeshSnapshot next;
        lock (_write)
        {
            var workloads = _current.Workloads.ToBuilder();
            var services = _current.Services.ToBuilder();
            foreach (string name in update.Removed)
            {
                if (!workloads.Remove(name))
                {
                    services.Remove(name);
                }
            }

            foreach (XdsResource<WorkloadAddress> resource in update.Updated)
            {
                if (MeshValidation.Check(resource.Value) is { } error)
                {
                    rejections.Add(new XdsRejection(resource.Name, error));
                }
                else if (resource.Value.TypeCase == WorkloadAddress.TypeOneofCase.Workload)
                {
                    workloads[resource.Value.Workload.Uid] = resource.Value.Workload;
                }
                else
                {
                    services[MeshSnapshot.ServiceKey(resource.Value.Service)] = resource.Value.Service;
                }
            }

            next = _current with { Workloads = workloads.ToImmutable(), Services = services.ToImmutable() };
            Volatile.Write(ref _current, next);
        }

        Changed?.Invoke(this, next);
        return rejections;
    }

    /// <summary>Applies a batch of policies: valid ones are stored, invalid ones are returned as rejections by name.</summary>
    /// <param name="update">The batch. A removed name is a policy's <c>namespace/name</c>.</param>
    /// <returns>The policies refused.</returns>
    public IReadOnlyList<XdsRejection> Apply(XdsUpdate<Authorization> update)
    {
        ArgumentNullException.ThrowIfNull(update);
        List<XdsRejection> rejections = [];
        MeshSnapshot next;
        lock (_write)
        {
            var policies = _current.Policies.ToBuilder();
            foreach (string name in update.Removed)
            {
                policies.Remove(name);
            }

            foreach (XdsResource<Authorization> resource in update.Updated)
            {
                if (MeshValidation.Check(resource.Value) is { } error)
                {
                    rejections.Add(new XdsRejection(resource.Name, error));
                }
                else
                {
                    policies[MeshSnapshot.PolicyKey(resource.Value)] = resource.Value;
                }
            }

            next = _current with { Policies = policies.ToImmutable() };
            Volatile.Write(ref _current, next);
        }

        Changed?.Invoke(this, next);
        return rejections;
    }
}
