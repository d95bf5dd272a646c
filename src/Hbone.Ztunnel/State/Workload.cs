using System.Net;

namespace Hbone.Ztunnel.State;

/// <summary>A workload (pod) of ztunnel's local config, with ztunnel's field names.</summary>
public sealed record Workload
{
    /// <summary>The unique id, e.g. <c>cluster1//v1/Pod/default/client</c>.</summary>
    public required string Uid { get; init; }

    /// <summary>The pod name.</summary>
    public required string Name { get; init; }

    /// <summary>The Kubernetes namespace.</summary>
    public required string Namespace { get; init; }

    /// <summary>The service account, which with the namespace makes the SPIFFE ID.</summary>
    public required string ServiceAccount { get; init; }

    /// <summary>The pod IPs.</summary>
    public IReadOnlyList<IPAddress> WorkloadIps { get; init; } = [];

    /// <summary>HBONE (in the mesh) or TCP.</summary>
    public WorkloadProtocol Protocol { get; init; } = WorkloadProtocol.Tcp;

    /// <summary>The node the pod runs on.</summary>
    public string Node { get; init; } = "";

    /// <summary>The network of <see cref="WorkloadIps"/>; empty for the default network.</summary>
    public string Network { get; init; } = "";

    /// <summary>The waypoint that receives traffic addressed to this workload, when any.</summary>
    public GatewayAddress? Waypoint { get; init; }

    /// <summary>The services this workload backs: <c>"ns/hostname"</c> to a service-port to target-port map.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<int, int>> Services { get; init; } = new Dictionary<string, IReadOnlyDictionary<int, int>>();

    /// <summary>The workload-selector policies that select this workload, as <c>namespace/name</c> (how istiod tells ztunnel over xDS).</summary>
    public IReadOnlyList<string> AuthorizationPolicies { get; init; } = [];

    /// <summary>The pod labels, which workload-selector policies match.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The canonical service name (telemetry).</summary>
    public string? CanonicalName { get; init; }

    /// <summary>The canonical revision (telemetry).</summary>
    public string? CanonicalRevision { get; init; }

    /// <summary>The owning workload's name, e.g. the Deployment (telemetry).</summary>
    public string? WorkloadName { get; init; }

    /// <summary>The cluster the workload runs in.</summary>
    public string? ClusterId { get; init; }
}
