using System.Diagnostics.Metrics;
using System.Net;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Xds;

namespace Hbone.Ztunnel.Admin;

/// <summary>Where the admin, stats and readiness endpoints listen and where their answers come from.</summary>
public sealed class AdminServerOptions
{
    /// <summary>The admin endpoint (<c>/config_dump</c>, <c>/quitquitquit</c>); 127.0.0.1:15000 unless set. Port 0 picks a free port.</summary>
    public IPEndPoint Admin { get; set; } = new(IPAddress.Loopback, 15000);

    /// <summary>The stats endpoint (<c>/metrics</c>, <c>/stats/prometheus</c>); 0.0.0.0:15020 unless set.</summary>
    public IPEndPoint Stats { get; set; } = new(IPAddress.Any, 15020);

    /// <summary>The readiness endpoint (<c>/healthz/ready</c>); 0.0.0.0:15021 unless set.</summary>
    public IPEndPoint Readiness { get; set; } = new(IPAddress.Any, 15021);

    /// <summary>The workload state to dump; read on each <c>/config_dump</c>. An empty snapshot unless set.</summary>
    public Func<WorkloadSnapshot> Snapshot { get; set; } = static () => WorkloadSnapshot.Empty;

    /// <summary>The enrolled pods to dump; read on each <c>/config_dump</c>. None unless set.</summary>
    public Func<IReadOnlyList<EnrolledPod>> Pods { get; set; } = static () => [];

    /// <summary>Supplies the xDS stream's state for <c>/config_dump</c>; null without istiod.</summary>
    public Func<XdsStatus?> Xds { get; set; } = static () => null;

    /// <summary>Supplies the workload certificates for <c>/config_dump</c>.</summary>
    public Func<IReadOnlyList<Hbone.Istio.Ca.CertificateStatus>> Certificates { get; set; } = static () => [];

    /// <summary>The meter whose instruments <c>/metrics</c> exposes (this instance only, not others of its name); none unless set.</summary>
    /// <remarks>Collection starts when the server starts: what the meter measured before is not counted.</remarks>
    public Meter? Metrics { get; set; }

    /// <summary>An exporter already collecting, used instead of one made for <see cref="Metrics"/> (the server does not dispose it).</summary>
    /// <remarks>The ztunnel creates it before its proxies start, so connections made before the admin server listens are counted.</remarks>
    internal Telemetry.PrometheusMetrics? Exporter { get; set; }

    /// <summary>Whether the proxy is ready (config loaded, pods set up). False unless set.</summary>
    public Func<bool> IsReady { get; set; } = static () => false;

    /// <summary>Called once per <c>POST /quitquitquit</c>: asks the proxy to shut down. Does nothing unless set.</summary>
    public Action RequestShutdown { get; set; } = static () => { };
}
