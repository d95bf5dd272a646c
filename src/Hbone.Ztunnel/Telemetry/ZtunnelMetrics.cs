using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>The ztunnel's Istio TCP counters on one <see cref="System.Diagnostics.Metrics.Meter"/> named <see cref="MeterName"/>.</summary>
public sealed class ZtunnelMetrics : IDisposable
{
    /// <summary>The name of the ztunnel's meter.</summary>
    public const string MeterName = "Hbone.Ztunnel";

    /// <summary>Counter of connections opened.</summary>
    public const string ConnectionsOpenedName = "istio_tcp_connections_opened_total";

    /// <summary>Counter of connections closed.</summary>
    public const string ConnectionsClosedName = "istio_tcp_connections_closed_total";

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
        _received = Meter.CreateCounter<long>(ReceivedBytesName, "By", "The size of total bytes received during request in case of a TCP connection.");
        _sent = Meter.CreateCounter<long>(SentBytesName, "By", "The size of total bytes sent during response in case of a TCP connection.");
        _dnsRequests = Meter.CreateCounter<long>(DnsRequestsName, "{request}", "Total number of DNS requests (unstable)");
        _dnsUpstream = Meter.CreateCounter<long>(DnsUpstreamRequestsName, "{request}", "Total number of DNS requests forwarded to upstream (unstable)");
        _dnsUpstreamFailures = Meter.CreateCounter<long>(DnsUpstreamFailuresName, "{request}", "Total number of DNS requests that failed to forward upstream (unstable)");
    }

    /// <summary>The meter the counters live on (give it to <see cref="Admin.AdminServerOptions.Metrics"/> to serve it on <c>/metrics</c>).</summary>
    public Meter Meter { get; }

    /// <summary>Counts one connection opened.</summary>
    public void ConnectionOpened(ConnectionLabels labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        TagList tags = _tags.GetOrAdd(labels, _buildTags);
        _opened.Add(1, in tags);
    }

    /// <summary>Counts one connection closed and adds its bytes not yet added by <see cref="AddBytes"/>.</summary>
    public void ConnectionClosed(ConnectionLabels labels, long bytesReceived, long bytesSent)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegative(bytesReceived);
        ArgumentOutOfRangeException.ThrowIfNegative(bytesSent);
        TagList tags = _tags.GetOrAdd(labels, _buildTags);
        _closed.Add(1, in tags);
        _received.Add(bytesReceived, in tags);
        _sent.Add(bytesSent, in tags);
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

    private static TagList BuildTags(ConnectionLabels l) => new()
    {
        { "reporter", l.Reporter },
        { "source_workload", l.SourceWorkload },
        { "source_workload_namespace", l.SourceWorkloadNamespace },
        { "source_principal", l.SourcePrincipal },
        { "destination_workload", l.DestinationWorkload },
        { "destination_workload_namespace", l.DestinationWorkloadNamespace },
        { "destination_principal", l.DestinationPrincipal },
        { "destination_service", l.DestinationService },
        { "request_protocol", l.RequestProtocol },
        { "response_flags", l.ResponseFlags },
        { "connection_security_policy", l.ConnectionSecurityPolicy },
    };
}
