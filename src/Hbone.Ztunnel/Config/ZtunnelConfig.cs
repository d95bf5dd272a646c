using System.Collections;

namespace Hbone.Ztunnel.Config;

/// <summary>The process configuration, from environment variables named as ztunnel names them where the meaning is the same.</summary>
public sealed record ZtunnelConfig
{
    /// <summary>The local config YAML (<c>LOCAL_XDS_PATH</c>); none means no workloads.</summary>
    public string? LocalXdsPath { get; init; }

    /// <summary>This node (<c>NODE_NAME</c>).</summary>
    public string? NodeName { get; init; }

    /// <summary>ztunnel's own namespace (<c>POD_NAMESPACE</c>).</summary>
    public string? PodNamespace { get; init; }

    /// <summary>The SPIFFE trust domain (<c>TRUST_DOMAIN</c>).</summary>
    public string TrustDomain { get; init; } = "cluster.local";

    /// <summary>The cluster (<c>CLUSTER_ID</c>).</summary>
    public string ClusterId { get; init; } = "Kubernetes";

    /// <summary>This node's network (<c>NETWORK</c>); empty for the default network.</summary>
    public string Network { get; init; } = "";

    /// <summary>Whether the DNS proxy on 15053 runs (<c>DNS_PROXY</c>); off until the DNS proxy exists.</summary>
    public bool DnsProxy { get; init; }

    /// <summary>Outbound capture (<c>OUTBOUND_PORT</c>).</summary>
    public int OutboundPort { get; init; } = 15001;

    /// <summary>Inbound plaintext capture (<c>INBOUND_PLAINTEXT_PORT</c>).</summary>
    public int InboundPlaintextPort { get; init; } = 15006;

    /// <summary>Inbound HBONE (<c>INBOUND_PORT</c>).</summary>
    public int InboundPort { get; init; } = 15008;

    /// <summary>SOCKS5 (<c>SOCKS5_PORT</c>).</summary>
    public int Socks5Port { get; init; } = 15080;

    /// <summary>DNS proxy (<c>DNS_PORT</c>).</summary>
    public int DnsPort { get; init; } = 15053;

    /// <summary>Admin (<c>ADMIN_PORT</c>).</summary>
    public int AdminPort { get; init; } = 15000;

    /// <summary>Prometheus metrics (<c>STATS_PORT</c>).</summary>
    public int StatsPort { get; init; } = 15020;

    /// <summary>Readiness (<c>READINESS_PORT</c>).</summary>
    public int ReadinessPort { get; init; } = 15021;

    /// <summary>The node agent's ZDS socket (<c>INPOD_UDS</c>).</summary>
    public string InpodUds { get; init; } = "/var/run/ztunnel/ztunnel.sock";

    /// <summary>How long connections may drain on shutdown (<c>TERMINATION_GRACE_PERIOD_SECONDS</c>, or <c>TERMINATION_GRACE_PERIOD</c> as a duration).</summary>
    public TimeSpan DrainDeadline { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Streams per pooled HBONE connection (<c>POOL_MAX_STREAMS_PER_CONNECTION</c>).</summary>
    public int PoolMaxStreamsPerConnection { get; init; } = 100;

    /// <summary>Idle pooled connections close after this (<c>POOL_UNUSED_RELEASE_TIMEOUT</c>).</summary>
    public TimeSpan PoolUnusedReleaseTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>A directory of workload certificates as <c>hbone certs</c> writes them (<c>CERT_DIR</c>: ca.pem, SA.pem, SA.key); when set, no CA is used.</summary>
    public string? CertDir { get; init; }

    /// <summary>The CA root certificate (PEM) that issues workload certificates (<c>CA_ROOT_CERT</c>); with no CA files a CA is made up in process.</summary>
    public string? CaRootCert { get; init; }

    /// <summary>The CA root key (PEM) (<c>CA_ROOT_KEY</c>).</summary>
    public string? CaRootKey { get; init; }

    /// <summary>Access-log lines as JSON instead of text (<c>LOG_FORMAT=json</c>).</summary>
    public bool JsonLogs { get; init; }

    /// <summary>How long an outbound connection from a pod unknown to the config waits for it before it is refused (<c>WORKLOAD_WAIT_TIMEOUT</c>).</summary>
    public TimeSpan WorkloadWaitTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The <c>SO_MARK</c> on sockets opened in pods (<c>PROXY_SOCKET_MARK</c>); 0 turns marking off, which only loop tests do.</summary>
    public int SocketMark { get; init; } = 0x539;

    /// <summary>The ports of this proxy; a connection addressed to one of them is never forwarded (loop prevention).</summary>
    public IReadOnlySet<int> ProxyPorts => new HashSet<int> { OutboundPort, InboundPlaintextPort, InboundPort, Socks5Port };

    /// <summary>Reads the process environment.</summary>
    /// <returns>The configuration.</returns>
    /// <exception cref="ZtunnelConfigException">A variable has a bad value.</exception>
    public static ZtunnelConfig FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariables());

    /// <summary>Reads the given variables; unset or empty ones keep their defaults.</summary>
    /// <param name="env">Variable names to values.</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="ZtunnelConfigException">A variable has a bad value.</exception>
    public static ZtunnelConfig FromEnvironment(IDictionary env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var r = new EnvReader(env);
        var d = new ZtunnelConfig();
        TimeSpan drain = r.Duration("TERMINATION_GRACE_PERIOD", d.DrainDeadline);
        drain = r.Int("TERMINATION_GRACE_PERIOD_SECONDS", 0, int.MaxValue) is int seconds ? TimeSpan.FromSeconds(seconds) : drain;
        return new ZtunnelConfig
        {
            LocalXdsPath = r.String("LOCAL_XDS_PATH"),
            NodeName = r.String("NODE_NAME"),
            PodNamespace = r.String("POD_NAMESPACE"),
            TrustDomain = r.TrustDomain("TRUST_DOMAIN") ?? d.TrustDomain,
            ClusterId = r.String("CLUSTER_ID") ?? d.ClusterId,
            Network = r.String("NETWORK") ?? d.Network,
            DnsProxy = r.Bool("DNS_PROXY") ?? d.DnsProxy,
            OutboundPort = r.Port("OUTBOUND_PORT") ?? d.OutboundPort,
            InboundPlaintextPort = r.Port("INBOUND_PLAINTEXT_PORT") ?? d.InboundPlaintextPort,
            InboundPort = r.Port("INBOUND_PORT") ?? d.InboundPort,
            Socks5Port = r.Port("SOCKS5_PORT") ?? d.Socks5Port,
            DnsPort = r.Port("DNS_PORT") ?? d.DnsPort,
            AdminPort = r.Port("ADMIN_PORT") ?? d.AdminPort,
            StatsPort = r.Port("STATS_PORT") ?? d.StatsPort,
            ReadinessPort = r.Port("READINESS_PORT") ?? d.ReadinessPort,
            InpodUds = r.String("INPOD_UDS") ?? d.InpodUds,
            DrainDeadline = drain,
            PoolMaxStreamsPerConnection = r.Int("POOL_MAX_STREAMS_PER_CONNECTION", 1, int.MaxValue) ?? d.PoolMaxStreamsPerConnection,
            PoolUnusedReleaseTimeout = r.Duration("POOL_UNUSED_RELEASE_TIMEOUT", d.PoolUnusedReleaseTimeout, positive: true),
            CertDir = r.String("CERT_DIR"),
            CaRootCert = r.String("CA_ROOT_CERT"),
            CaRootKey = r.String("CA_ROOT_KEY"),
            JsonLogs = string.Equals(r.String("LOG_FORMAT"), "json", StringComparison.OrdinalIgnoreCase),
            WorkloadWaitTimeout = r.Duration("WORKLOAD_WAIT_TIMEOUT", d.WorkloadWaitTimeout),
            SocketMark = r.Int("PROXY_SOCKET_MARK", 0, int.MaxValue) ?? d.SocketMark,
        };
    }
}
