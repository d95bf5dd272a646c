using Hbone.Ztunnel.State;
namespace Hbone.Ztunnel.Config;

/// <summary>ztunnel's local config file (<c>LOCAL_XDS_PATH</c>): the workloads, services and policies of a mesh without a control plane.</summary>
/// <param name="Workloads">The workloads, unique by <see cref="Workload.Uid"/>.</param>
/// <param name="Services">The services, unique by namespace and hostname.</param>
/// <param name="Policies">The L4 authorization policies.</param>
public sealed record LocalConfig(IReadOnlyList<Workload> Workloads, IReadOnlyList<Service> Services, IReadOnlyList<AuthorizationPolicy> Policies)
{
    /// <summary>A config with nothing in it.</summary>
    public static LocalConfig Empty { get; } = new([], [], []);
}
