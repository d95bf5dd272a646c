using Hbone.Ztunnel.Config;

namespace Hbone.Ztunnel.State;

/// <summary>A service of ztunnel's local config, with ztunnel's field names.</summary>
public sealed record Service
{
    /// <summary>The service name.</summary>
    public required string Name { get; init; }

    /// <summary>The Kubernetes namespace.</summary>
    public required string Namespace { get; init; }

    /// <summary>The DNS name, e.g. <c>echo.default.svc.cluster.local</c>; sent as <c>Forwarded: host=</c>.</summary>
    public required string Hostname { get; init; }

    /// <summary>The virtual IPs.</summary>
    public IReadOnlyList<NetworkAddress> Vips { get; init; } = [];

    /// <summary>Service port to target port.</summary>
    public IReadOnlyDictionary<int, int> Ports { get; init; } = new Dictionary<int, int>();

    /// <summary>Identities an endpoint may also present (besides its own SPIFFE ID).</summary>
    public IReadOnlyList<string> SubjectAltNames { get; init; } = [];

    /// <summary>The waypoint that receives traffic addressed to this service, when any.</summary>
    public GatewayAddress? Waypoint { get; init; }

    /// <summary>The key workloads use in <see cref="Workload.Services"/>: <c>namespace/hostname</c>.</summary>
    public string Key => $"{Namespace}/{Hostname}";
}
