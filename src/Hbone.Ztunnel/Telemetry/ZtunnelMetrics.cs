using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>The ztunnel's Istio TCP and DNS counters on one <see cref="System.Diagnostics.Metrics.Meter"/> named <see cref="MeterName"/>.</summary>
public sealed class ZtunnelMetrics : IDisposable
{
    /// <summary>The name of the ztunnel's meter.</summary>
    public const string MeterName = "Hbone.Ztunnel";

    /// <summary>Counter of connections opened.</summary>
    public const string ConnectionsOpenedName = "istio_tcp_connections_opened_total";

    /// <summary>Counter of connections closed.</summary>
    public const string ConnectionsClosedName = "istio_tcp_connections_closed_total";

    /// <summary>Counter of connections that failed (any <c>response_flags</c> but <c>"-"</c>; ztunnel's, "unstable" there).</summary>
    public const string ConnectionsFailedName = "istio_tcp_connections_failed_total";

    /// <summary>Counter of bytes received.</summary>
    public const string ReceivedBytesName = "istio_tcp_received_bytes_total";

    /// <summary>Counter of bytes sent.</summary>
    public const string SentBytesName = "istio_tcp_sent_bytes_total";

    /// <summary>Counter of DNS requests the pods' DNS proxy received (ztunnel's, "unstable" there too).</summary>
    public const string DnsRequestsName = "istio_dns_requests_total";

    /// <summary>Counter of DNS requests forwarded to an upstream resolver.</summary>
    public const string DnsUpstreamRequestsName = "istio_dns_upstream_requests_total";

    /// <summary>Counter of forwarded DNS requests no upstream answered.</summary>
    public const string DnsUpstreamFailuresName = "istio_dns_upstream_failures_total";

    private readonly bool _ownsMeter;
    private readonly Counter<long> _dnsRequests;
    private readonly Counter<long> _dnsUpstream;
    private readonly Counter<long> _dnsUpstreamFailures;
    private readonly Counter<long> _opened;
    private readonly Counter<long> _closed;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _received;
    private readonly Counter<long> _sent;

    // Label sets are few (workload pairs), so one TagList per set is built once and reused.
    private readonly ConcurrentDictionary<ConnectionLabels, TagList> _tags = new();
    private readonly Func<ConnectionLabels, TagList> _buildTags = BuildTags;

    /// <summary>Creates the meter through <paramref name="meterFactory"/> when given, otherwise a meter this instance owns.</summary>
    public ZtunnelMetrics(IMeterFactory? meterFactory = null)
    {
        if (meterFactory is null)
        {
            Meter = new Meter(MeterName);
            _ownsMeter = true;
        }
        else
        {
            Meter = meterFactory.Create(new MeterOptions(MeterName));
        }

        _opened = Meter.CreateCounter<long>(ConnectionsOpenedName, "{connection}", "The total number of TCP connections opened.");
        _closed = Meter.CreateCounter<long>(ConnectionsClosedName, "{connection}", "The total number of TCP connections closed.");
        _failed = Meter.CreateCounter<long>(ConnectionsFailedName, "{connection}", "The total number of TCP connections that failed to establish (unstable).");
        _received = Meter.CreateCounter<long>(ReceivedBytesName, "By", "The size of total bytes received during request in case of a TCP connection.");
        _sent = Meter.CreateCounter<long>(SentBytesName, "By", "The size of total bytes sent during response in case of a TCP connection.");
        _dnsRequests = Meter.CreateCounter<long>(DnsRequestsName, "{request}", "Total number of DNS requests (unstable)");
        _dnsUpstream = Meter.CreateCounter<long>(DnsUpstreamRequestsName, "{request}", "Total number of DNS requests forwarded to upstream (unstable)");
        _dnsUpstreamFailures = Meter.CreateCounter<long>(DnsUpstreamFailuresName, "{request}", "Total number of DNS requests that failed to forward upstream (unstable)");
    }

    /// <summary>The meter the counters live on (give it to <see cref="Admin.AdminServerOptions.Metrics"/> to serve it on <c>/metrics</c>).</summary>
    public Meter Meter { get; }

    /// <summary>Counts one connection opened; its byte series start at 0 (as ztunnel's do), so they exist even if it moves none.</summary>
    /// <param name="labels">The connection's labels; their <see cref="ConnectionLabels.ResponseFlags"/> is <c>"-"</c>, as ztunnel opens every connection.</param>
    public void ConnectionOpened(ConnectionLabels labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        TagList tags = _tags.GetOrAdd(labels, _buildTags);
        _opened.Add(1, in tags);
        _received.Add(0, in tags);
        _sent.Add(0, in tags);
    }

    /// <summary>
    /// Counts one connection closed, with <paramref name="responseFlags"/> as its <c>response_flags</c>, and failed too when
    /// that is not <c>"-"</c>; adds its bytes not yet added by <see cref="AddBytes"/> to the series it was opened with.
    /// </summary>
    /// <param name="labels">The labels the connection was opened with.</param>
    /// <param name="bytesReceived">Request bytes not yet counted.</param>
    /// <param name="bytesSent">Response bytes not yet counted.</param>
    /// <param name="responseFlags">Why it failed (<see cref="ResponseFlags"/>); <c>"-"</c> when it did not.</param>
    public void ConnectionClosed(ConnectionLabels labels, long bytesReceived, long bytesSent, string responseFlags = ResponseFlags.None)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegative(bytesReceived);
        ArgumentOutOfRangeException.ThrowIfNegative(bytesSent);
        ArgumentException.ThrowIfNullOrEmpty(responseFlags);
        TagList tags = _tags.GetOrAdd(labels, _buildTags);
        _received.Add(bytesReceived, in tags);
        _sent.Add(bytesSent, in tags);

        // ztunnel counts the close (and the failure) with the flag, the bytes with the labels the connection opened with.
        TagList closed = string.Equals(labels.ResponseFlags, responseFlags, StringComparison.Ordinal)
            ? tags
            : _tags.GetOrAdd(labels with { ResponseFlags = responseFlags }, _buildTags);
        _closed.Add(1, in closed);
        if (!string.Equals(responseFlags, ResponseFlags.None, StringComparison.Ordinal))
        {
            _failed.Add(1, in closed);
        }
    }

    /// <summary>Adds bytes of a connection still open, so the byte counters grow during long connections.</summary>
    public void AddBytes(ConnectionLabels labels, long bytesReceived, long bytesSent)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegative(bytesReceived);
        ArgumentOutOfRangeException.ThrowIfNegative(bytesSent);
        TagList tags = _tags.GetOrAdd(labels, _buildTags);
        if (bytesReceived > 0)
        {
            _received.Add(bytesReceived, in tags);
        }

        if (bytesSent > 0)
        {
            _sent.Add(bytesSent, in tags);
        }
    }

    /// <summary>Counts one DNS request; with <paramref name="forwarded"/>, also one sent upstream, and with <paramref name="failed"/> one no upstream answered.</summary>
    public void DnsRequest(DnsLabels labels, bool forwarded, bool failed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        TagList tags = new()
        {
            { "request_query_type", labels.QueryType },
            { "request_protocol", labels.Protocol },
            { "source_canonical_service", labels.SourceCanonicalService },
            { "source_canonical_revision", labels.SourceCanonicalRevision },
        };
        _dnsRequests.Add(1, in tags);
        if (forwarded)
        {
            _dnsUpstream.Add(1, in tags);
        }

        if (failed)
        {
            _dnsUpstreamFailures.Add(1, in tags);
        }
    }

    /// <summary>Disposes the meter when this instance created it; a factory's meter is the factory's to dispose.</summary>
    public void Dispose()
    {
        if (_ownsMeter)
        {
            Meter.Dispose();
        }
    }

    // ztunnel's CommonTrafficLabels, in its order.
    private static TagList BuildTags(ConnectionLabels l) => new()
    {
        { "reporter", l.Reporter },
        { "source_workload", l.SourceWorkload },
        { "source_canonical_service", l.SourceCanonicalService },
        { "source_canonical_revision", l.SourceCanonicalRevision },
        { "source_workload_namespace", l.SourceWorkloadNamespace },
        { "source_principal", l.SourcePrincipal },
        { "source_app", l.SourceApp },
        { "source_version", l.SourceVersion },
        { "source_cluster", l.SourceCluster },
        { "destination_service", l.DestinationService },
        { "destination_service_namespace", l.DestinationServiceNamespace },
        { "destination_service_name", l.DestinationServiceName },
        { "destination_workload", l.DestinationWorkload },
        { "destination_canonical_service", l.DestinationCanonicalService },
        { "destination_canonical_revision", l.DestinationCanonicalRevision },
        { "destination_workload_namespace", l.DestinationWorkloadNamespace },
        { "destination_principal", l.DestinationPrincipal },
        { "destination_app", l.DestinationApp },
        { "destination_version", l.DestinationVersion },
        { "destination_cluster", l.DestinationCluster },
        { "request_protocol", l.RequestProtocol },
        { "response_flags", l.ResponseFlags },
        { "connection_security_policy", l.ConnectionSecurityPolicy },
    };
}
