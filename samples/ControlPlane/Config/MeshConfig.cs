using Hbone.Istio.Protos.Security;
using Hbone.Istio.Protos.Workload;

namespace DevControlPlane.Config;

/// <summary>A workload as the YAML has it: the proto plus the labels that policy selectors match (labels are not sent).</summary>
public sealed record MeshWorkload(Workload Proto, IReadOnlyDictionary<string, string> Labels);

/// <summary>A policy as the YAML has it: the proto plus the selector of a WorkloadSelector policy.</summary>
public sealed record MeshPolicy(Authorization Proto, IReadOnlyDictionary<string, string>? Selector);

/// <summary>The parsed mesh YAML (ztunnel's local config format).</summary>
public sealed record MeshConfig(IReadOnlyList<MeshWorkload> Workloads, IReadOnlyList<Service> Services, IReadOnlyList<MeshPolicy> Policies)
{
    public static MeshConfig Empty { get; } = new([], [], []);
}
