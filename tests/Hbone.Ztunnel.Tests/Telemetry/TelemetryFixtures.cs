using System.Net;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Tests.Telemetry;

/// <summary>A clock that always reads the same instant.</summary>
internal sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}

internal static class TelemetryFixtures
{
    /// <summary>An HBONE pod workload as istiod describes it (uid <c>cluster//v1/Pod/namespace/name</c>).</summary>
    public static Workload Pod(string cluster, string @namespace, string name, string workloadName, string serviceAccount, string canonicalName, string revision, string ip) => new()
    {
        Uid = $"{cluster}//v1/Pod/{@namespace}/{name}",
        Name = name,
        Namespace = @namespace,
        ServiceAccount = serviceAccount,
        WorkloadName = workloadName,
        CanonicalName = canonicalName,
        CanonicalRevision = revision,
        ClusterId = cluster,
        WorkloadIps = [IPAddress.Parse(ip)],
        Protocol = WorkloadProtocol.Hbone,
    };

    public static ConnectionLabels ClientToEcho(string reporter = ConnectionLabels.SourceReporter) => new()
    {
        Reporter = reporter,
        SourceWorkload = "client",
        SourceWorkloadNamespace = "default",
        SourcePrincipal = "spiffe://cluster.local/ns/default/sa/client",
        DestinationWorkload = "echo",
        DestinationWorkloadNamespace = "default",
        DestinationPrincipal = "spiffe://cluster.local/ns/default/sa/echo",
        DestinationService = "echo.default.svc.cluster.local",
        ConnectionSecurityPolicy = ConnectionLabels.MutualTls,
    };

    /// <summary>The label string of <see cref="ClientToEcho"/> as the exporter writes it (names sorted; the labels it leaves unset are unknown).</summary>
    public static string ClientToEchoSeries(string reporter = ConnectionLabels.SourceReporter) =>
        "connection_security_policy=\"mutual_tls\"," +
        "destination_app=\"unknown\"," +
        "destination_canonical_revision=\"unknown\"," +
        "destination_canonical_service=\"unknown\"," +
        "destination_cluster=\"unknown\"," +
        "destination_principal=\"spiffe://cluster.local/ns/default/sa/echo\"," +
        "destination_service=\"echo.default.svc.cluster.local\"," +
        "destination_service_name=\"unknown\"," +
        "destination_service_namespace=\"unknown\"," +
        "destination_version=\"unknown\"," +
        "destination_workload=\"echo\"," +
        "destination_workload_namespace=\"default\"," +
        $"reporter=\"{reporter}\"," +
        "request_protocol=\"tcp\"," +
        "response_flags=\"-\"," +
        "source_app=\"unknown\"," +
        "source_canonical_revision=\"unknown\"," +
        "source_canonical_service=\"unknown\"," +
        "source_cluster=\"unknown\"," +
        "source_principal=\"spiffe://cluster.local/ns/default/sa/client\"," +
        "source_version=\"unknown\"," +
        "source_workload=\"client\"," +
        "source_workload_namespace=\"default\"";

    /// <summary>The lines of an exposition that start with <paramref name="name"/> followed by a space or a brace (series lines).</summary>
    public static string[] SeriesLines(string exposition, string name) =>
        exposition.Split('\n').Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal)).ToArray();
}
