using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Proxy;

/// <summary>Turns a <see cref="ConnectionReport"/> into Istio's TCP metrics and one access-log line.</summary>
internal sealed class ConnectionReporter(ZtunnelMetrics metrics, AccessLogWriter accessLog)
{
    /// <summary>Counts the connection as opened; call once it is authorized and about to reach its destination.</summary>
    public void Opened(ConnectionReport report) => metrics.ConnectionOpened(Labels(report));

    /// <summary>Logs the connection and, if it was counted as opened, counts it closed with its bytes.</summary>
    public void Report(ConnectionReport report, bool opened)
    {
        if (opened)
        {
            // Istio counts request bytes (towards the destination) as received and response bytes as sent.
            metrics.ConnectionClosed(Labels(report), bytesReceived: report.BytesSent, bytesSent: report.BytesReceived);
        }

        accessLog.Write(new ConnectionLogEntry
        {
            Direction = report.Inbound ? ConnectionLogEntry.Inbound : ConnectionLogEntry.Outbound,
            Source = report.Source,
            Destination = report.Destination,
            SourceWorkload = report.SourceWorkload?.Name,
            SourceNamespace = report.SourceWorkload?.Namespace,
            SourceIdentity = report.SourceIdentity?.ToString(),
            DestinationWorkload = report.DestinationWorkload?.Name,
            DestinationNamespace = report.DestinationWorkload?.Namespace,
            DestinationIdentity = report.DestinationIdentity?.ToString(),
            DestinationService = report.DestinationService,
            BytesSent = report.BytesSent,
            BytesReceived = report.BytesReceived,
            Duration = report.Duration,
            Error = report.Error,
            Status = report.Status,
            Protocol = report.MutualTls ? "HBONE" : "TCP",
        });
    }

    private static ConnectionLabels Labels(ConnectionReport report) => new()
    {
        Reporter = report.Inbound ? ConnectionLabels.DestinationReporter : ConnectionLabels.SourceReporter,
        SourceWorkload = WorkloadName(report.SourceWorkload),
        SourceWorkloadNamespace = report.SourceWorkload?.Namespace ?? ConnectionLabels.Unknown,
        SourcePrincipal = report.SourceIdentity?.ToString() ?? ConnectionLabels.Unknown,
        DestinationWorkload = WorkloadName(report.DestinationWorkload),
        DestinationWorkloadNamespace = report.DestinationWorkload?.Namespace ?? ConnectionLabels.Unknown,
        DestinationPrincipal = report.DestinationIdentity?.ToString() ?? ConnectionLabels.Unknown,
        DestinationService = report.DestinationService ?? ConnectionLabels.Unknown,
        ConnectionSecurityPolicy = report.MutualTls ? ConnectionLabels.MutualTls : ConnectionLabels.Unknown,
    };

    private static string WorkloadName(Workload? workload) => workload is null ? ConnectionLabels.Unknown : workload.WorkloadName ?? workload.Name;
}
