using System.Collections.Concurrent;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>
/// Turns a <see cref="ConnectionReport"/> into Istio's TCP metrics and one access-log line. Bytes of open
/// connections with <see cref="ConnectionReport.Live"/> counts are added every poll interval; the close adds the rest.
/// </summary>
internal sealed class ConnectionReporter : IDisposable
{
    /// <summary>How often open connections' bytes reach the counters unless told otherwise.</summary>
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(5);

    private readonly ZtunnelMetrics metrics;
    private readonly AccessLogWriter accessLog;
    private readonly ConcurrentDictionary<LiveBytes, byte> _open = new();
    private readonly TimeSpan _interval;
    private readonly TimeProvider _timeProvider;
    private ITimer? _timer;
    private int _disposed;

    /// <param name="pollInterval">How often the bytes of open connections are added; <see cref="DefaultPollInterval"/> when null.</param>
    public ConnectionReporter(ZtunnelMetrics metrics, AccessLogWriter accessLog, TimeSpan? pollInterval = null, TimeProvider? timeProvider = null)
    {
        this.metrics = metrics;
        this.accessLog = accessLog;
        _interval = pollInterval ?? DefaultPollInterval;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The counters this reporter feeds; other parts of the proxy (the DNS proxy) count on them too.</summary>
    public ZtunnelMetrics Metrics => metrics;

    /// <summary>
    /// Counts the connection as opened; call once the early checks passed and before authorization, as ztunnel does
    /// (a denied connection is opened, then closed and failed with <c>DENY</c>).
    /// </summary>
    public void Opened(ConnectionReport report)
    {
        var labels = Labels(report);
        metrics.ConnectionOpened(labels);
        if (report.Live is { } live)
        {
            live.Labels = labels;
            _open.TryAdd(live, 0);
            StartPolling();
        }
    }

    /// <summary>Adds what each open connection moved since the last poll (the timer calls this; tests may too).</summary>
    public void Poll()
    {
        foreach (var live in _open.Keys)
        {
            lock (live.Gate)
            {
                if (live.Closed || live.Labels is not { } labels)
                {
                    continue;
                }

                var (sent, received) = live.Read();
                var newSent = Math.Max(0, sent - live.ReportedSent);
                var newReceived = Math.Max(0, received - live.ReportedReceived);
                live.ReportedSent += newSent;
                live.ReportedReceived += newReceived;

                // Istio counts request bytes (towards the destination) as received and response bytes as sent.
                metrics.AddBytes(labels, bytesReceived: newSent, bytesSent: newReceived);
            }
        }
    }

    /// <summary>
    /// Logs the connection and, if it was counted as opened, counts it closed (and failed, unless its
    /// <see cref="ConnectionReport.ResponseFlags"/> is <c>"-"</c>) with the bytes no poll added yet.
    /// </summary>
    public void Report(ConnectionReport report, bool opened)
    {
        var (polledSent, polledReceived) = report.Live is { } live ? Close(live) : (0, 0);
        if (opened)
        {
            // Istio counts request bytes (towards the destination) as received and response bytes as sent.
            metrics.ConnectionClosed(Labels(report),
                bytesReceived: Math.Max(0, report.BytesSent - polledSent),
                bytesSent: Math.Max(0, report.BytesReceived - polledReceived),
                responseFlags: report.ResponseFlags);
        }

        accessLog.Write(report);
    }

    /// <summary>Stops the polls.</summary>
    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        Interlocked.Exchange(ref _timer, null)?.Dispose();
    }

    private void StartPolling()
    {
        // The timer starts with the first live connection: a reporter that never sees one never ticks.
        if (Volatile.Read(ref _timer) is not null || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        var timer = _timeProvider.CreateTimer(static state => ((ConnectionReporter)state!).Poll(), this, _interval, _interval);
        if (Interlocked.CompareExchange(ref _timer, timer, null) is not null)
        {
            timer.Dispose();
        }
    }

    private (long Sent, long Received) Close(LiveBytes live)
    {
        _open.TryRemove(live, out _);
        lock (live.Gate)
        {
            live.Closed = true;
            return (live.ReportedSent, live.ReportedReceived);
        }
    }

    // Filled as ztunnel fills CommonTrafficLabels: the workloads' names, canonical service and revision (also as app and
    // version) and cluster, the service's host, name and namespace. Always with response_flags "-": that is how a connection opens.
    private static ConnectionLabels Labels(ConnectionReport report)
    {
        Workload? source = report.SourceWorkload;
        Workload? destination = report.DestinationWorkload;
        return new()
        {
            Reporter = report.Inbound ? ConnectionLabels.DestinationReporter : ConnectionLabels.SourceReporter,
            SourceWorkload = WorkloadName(source),
            SourceCanonicalService = OrUnknown(source?.CanonicalName),
            SourceCanonicalRevision = OrUnknown(source?.CanonicalRevision),
            SourceWorkloadNamespace = OrUnknown(source?.Namespace),
            // ztunnel sets it only from the mTLS identity (the peer's inbound, its own outbound), never for plain TCP.
            SourcePrincipal = report.MutualTls ? OrUnknown(report.SourceIdentity?.ToString()) : ConnectionLabels.Unknown,
            SourceApp = OrUnknown(source?.CanonicalName),
            SourceVersion = OrUnknown(source?.CanonicalRevision),
            SourceCluster = OrUnknown(source?.ClusterId),
            DestinationService = OrUnknown(report.DestinationService),
            DestinationServiceNamespace = OrUnknown(report.DestinationServiceNamespace),
            DestinationServiceName = OrUnknown(report.DestinationServiceName),
            DestinationWorkload = WorkloadName(destination),
            DestinationCanonicalService = OrUnknown(destination?.CanonicalName),
            DestinationCanonicalRevision = OrUnknown(destination?.CanonicalRevision),
            DestinationWorkloadNamespace = OrUnknown(destination?.Namespace),
            DestinationPrincipal = OrUnknown(report.DestinationIdentity?.ToString()),
            DestinationApp = OrUnknown(destination?.CanonicalName),
            DestinationVersion = OrUnknown(destination?.CanonicalRevision),
            DestinationCluster = OrUnknown(destination?.ClusterId),
            ConnectionSecurityPolicy = report.MutualTls ? ConnectionLabels.MutualTls : ConnectionLabels.Unknown,
        };
    }

    private static string OrUnknown(string? value) => string.IsNullOrEmpty(value) ? ConnectionLabels.Unknown : value;

    private static string WorkloadName(Workload? workload) =>
        workload is null ? ConnectionLabels.Unknown : OrUnknown(string.IsNullOrEmpty(workload.WorkloadName) ? workload.Name : workload.WorkloadName);
}
