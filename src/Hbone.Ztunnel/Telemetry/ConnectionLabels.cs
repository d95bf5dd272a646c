namespace Hbone.Ztunnel.Telemetry;

/// <summary>The Istio TCP metric labels of one connection; record equality makes it the series key.</summary>
/// <remarks>
/// ztunnel's 23 labels (<c>CommonTrafficLabels</c>), written in its order. Values that are not known are <c>"unknown"</c>,
/// as in Istio; nothing here is ever null. ztunnel's optional locality labels (<c>source_region</c>...) are not written:
/// the workload model carries no locality.
/// </remarks>
public sealed record ConnectionLabels
{
    /// <summary>The value of a label that is not known (Istio's convention).</summary>
    public const string Unknown = "unknown";

    /// <summary>The <c>reporter</c> of the proxy on the client side.</summary>
    public const string SourceReporter = "source";

    /// <summary>The <c>reporter</c> of the proxy on the server side.</summary>
    public const string DestinationReporter = "destination";

    /// <summary>The <c>connection_security_policy</c> of a connection carried in mTLS.</summary>
    public const string MutualTls = "mutual_tls";

    /// <summary><c>reporter</c>: <see cref="SourceReporter"/> or <see cref="DestinationReporter"/>.</summary>
    public required string Reporter { get; init; }

    /// <summary><c>source_workload</c>: the owning workload's name (e.g. the Deployment).</summary>
    public string SourceWorkload { get; init; } = Unknown;

    /// <summary><c>source_canonical_service</c>.</summary>
    public string SourceCanonicalService { get; init; } = Unknown;

    /// <summary><c>source_canonical_revision</c>.</summary>
    public string SourceCanonicalRevision { get; init; } = Unknown;

    /// <summary><c>source_workload_namespace</c>.</summary>
    public string SourceWorkloadNamespace { get; init; } = Unknown;

    /// <summary><c>source_principal</c>: the client's SPIFFE identity, when the connection is mTLS.</summary>
    public string SourcePrincipal { get; init; } = Unknown;

    /// <summary><c>source_app</c>: ztunnel gives it the canonical service.</summary>
    public string SourceApp { get; init; } = Unknown;

    /// <summary><c>source_version</c>: ztunnel gives it the canonical revision.</summary>
    public string SourceVersion { get; init; } = Unknown;

    /// <summary><c>source_cluster</c>.</summary>
    public string SourceCluster { get; init; } = Unknown;

    /// <summary><c>destination_service</c>: the service host name.</summary>
    public string DestinationService { get; init; } = Unknown;

    /// <summary><c>destination_service_namespace</c>.</summary>
    public string DestinationServiceNamespace { get; init; } = Unknown;

    /// <summary><c>destination_service_name</c>.</summary>
    public string DestinationServiceName { get; init; } = Unknown;

    /// <summary><c>destination_workload</c>: the owning workload's name.</summary>
    public string DestinationWorkload { get; init; } = Unknown;

    /// <summary><c>destination_canonical_service</c>.</summary>
    public string DestinationCanonicalService { get; init; } = Unknown;

    /// <summary><c>destination_canonical_revision</c>.</summary>
    public string DestinationCanonicalRevision { get; init; } = Unknown;

    /// <summary><c>destination_workload_namespace</c>.</summary>
    public string DestinationWorkloadNamespace { get; init; } = Unknown;

    /// <summary><c>destination_principal</c>: the server's SPIFFE identity.</summary>
    public string DestinationPrincipal { get; init; } = Unknown;

    /// <summary><c>destination_app</c>: ztunnel gives it the canonical service.</summary>
    public string DestinationApp { get; init; } = Unknown;

    /// <summary><c>destination_version</c>: ztunnel gives it the canonical revision.</summary>
    public string DestinationVersion { get; init; } = Unknown;

    /// <summary><c>destination_cluster</c>.</summary>
    public string DestinationCluster { get; init; } = Unknown;

    /// <summary><c>request_protocol</c>: always <c>"tcp"</c> for L4.</summary>
    public string RequestProtocol { get; init; } = "tcp";

    /// <summary><c>response_flags</c>: one of <see cref="Telemetry.ResponseFlags"/>, <c>"-"</c> when none.</summary>
    public string ResponseFlags { get; init; } = Telemetry.ResponseFlags.None;

    /// <summary><c>connection_security_policy</c>: <see cref="MutualTls"/> or <see cref="Unknown"/>.</summary>
    public string ConnectionSecurityPolicy { get; init; } = Unknown;
}
