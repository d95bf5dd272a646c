using System.Collections;
using System.Net;
using Hbone.Istio.ControlPlane;

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

    /// <summary>Whether each pod gets a DNS proxy (<c>ISTIO_META_DNS_CAPTURE</c>, on unless <c>false</c>, as ztunnel).</summary>
    public bool DnsProxy { get; init; } = true;

    /// <summary>The DNS proxy's address in each pod (<c>ISTIO_META_DNS_PROXY_ADDR</c>, <c>localhost:15053</c> by default).</summary>
    public IPEndPoint DnsProxyAddress { get; init; } = new(IPAddress.Loopback, 15053);

    /// <summary>The cluster's DNS domain (<c>CLUSTER_DOMAIN</c>), which the DNS proxy expands short service names with.</summary>
    public string ClusterDomain { get; init; } = "cluster.local";

    /// <summary>The resolv.conf whose nameservers get the queries the proxy does not answer (<c>DNS_RESOLV_CONF</c>).</summary>
    public string DnsResolvConf { get; init; } = "/etc/resolv.conf";

    /// <summary>Outbound capture (<c>OUTBOUND_PORT</c>).</summary>
    public int OutboundPort { get; init; } = 15001;

    /// <summary>Inbound plaintext capture (<c>INBOUND_PLAINTEXT_PORT</c>).</summary>
    public int InboundPlaintextPort { get; init; } = 15006;

    /// <summary>Inbound HBONE (<c>INBOUND_PORT</c>).</summary>
    public int InboundPort { get; init; } = 15008;

    /// <summary>SOCKS5 (<c>SOCKS5_PORT</c>).</summary>
    public int Socks5Port { get; init; } = 15080;

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

    /// <summary>istiod's xDS endpoint (<c>XDS_ADDRESS</c>; in a cluster, <c>https://istiod.istio-system.svc:15012</c>); null: the local config file.</summary>
    public Uri? XdsAddress { get; init; }

    /// <summary>istiod's CA endpoint (<c>CA_ADDRESS</c>, else the xDS address when no local CA is configured); null: the local CA.</summary>
    public Uri? CaAddress { get; init; }

    /// <summary>The roots xDS's TLS must chain to (<c>XDS_ROOT_CA</c>: a PEM path, <c>SYSTEM</c>, or inline PEM).</summary>
    public string XdsRootCa { get; init; } = IstioConnectionOptions.DefaultRootCertificatePath;

    /// <summary>The roots the CA's TLS must chain to (<c>CA_ROOT_CA</c>).</summary>
    public string CaRootCa { get; init; } = IstioConnectionOptions.DefaultRootCertificatePath;

    /// <summary>The name xDS's certificate must carry when not the address's host (<c>ALT_XDS_HOSTNAME</c>).</summary>
    public string? AltXdsHostname { get; init; }

    /// <summary>The name the CA's certificate must carry when not the address's host (<c>ALT_CA_HOSTNAME</c>).</summary>
    public string? AltCaHostname { get; init; }

    /// <summary>The bearer token file, re-read on every call (<c>AUTH_TOKEN</c> when it is a path, else the default path when it exists).</summary>
    public string? AuthTokenPath { get; init; }

    /// <summary>A fixed bearer token (<c>AUTH_TOKEN</c> when it is not a path).</summary>
    public string? AuthToken { get; init; }

    /// <summary>Extra headers on xDS calls (<c>XDS_HEADER_*</c>, prefix stripped).</summary>
    public IReadOnlyDictionary<string, string> XdsHeaders { get; init; } = new Dictionary<string, string>();

    /// <summary>Extra headers on CA calls (<c>CA_HEADER_*</c>, prefix stripped).</summary>
    public IReadOnlyDictionary<string, string> CaHeaders { get; init; } = new Dictionary<string, string>();

    /// <summary>The certificate lifetime asked of the CA (<c>SECRET_TTL</c>).</summary>
    public TimeSpan SecretTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>ztunnel's own pod (<c>POD_NAME</c>), part of its xDS node id.</summary>
    public string? PodName { get; init; }

    /// <summary>ztunnel's own IP (<c>INSTANCE_IP</c>), part of its xDS node id.</summary>
    public string? InstanceIp { get; init; }

    /// <summary>Node metadata sent to istiod (<c>ISTIO_META_*</c>, prefix stripped).</summary>
    public IReadOnlyDictionary<string, string> ProxyMetadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Node metadata sent to istiod as JSON values (<c>ISTIO_METAJSON_*</c>, prefix stripped).</summary>
    public IReadOnlyDictionary<string, string> ProxyMetadataJson { get; init; } = new Dictionary<string, string>();

    /// <summary>How to reach istiod's xDS, when <see cref="XdsAddress"/> is set.</summary>
    public IstioConnectionOptions XdsConnection() => Connection(XdsAddress!, XdsRootCa, AltXdsHostname, XdsHeaders);

    /// <summary>How to reach istiod's CA, when <see cref="CaAddress"/> is set.</summary>
    public IstioConnectionOptions CaConnection() => Connection(CaAddress!, CaRootCa, AltCaHostname, CaHeaders);

    /// <summary>Access-log lines as JSON instead of text (<c>LOG_FORMAT=json</c>).</summary>
    public bool JsonLogs { get; init; }

    /// <summary>How long an outbound connection from a pod unknown to the config waits for it before it is refused (<c>WORKLOAD_WAIT_TIMEOUT</c>).</summary>
    public TimeSpan WorkloadWaitTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The <c>SO_MARK</c> on sockets opened in pods (ztunnel's <c>PACKET_MARK</c>, 1337 in in-pod mode): the in-pod rules let packets with this mark through uncaptured.</summary>
    public int SocketMark { get; init; } = 0x539;

    /// <summary>
    /// Whether the file pages start-up left mapped are unmapped once ready (<c>HBONE_RELEASE_STARTUP_PAGES</c>, ours, on by
    /// default): mostly the binary's start-up code, 12–16 MiB of RSS while idle, ~5 MiB under load.
    /// </summary>
    public bool ReleaseStartupPages { get; init; } = true;

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
        string? localXds = r.String("LOCAL_XDS_PATH");
        string? certDir = r.String("CERT_DIR"), caRootCert = r.String("CA_ROOT_CERT"), caRootKey = r.String("CA_ROOT_KEY");

        // As ztunnel: inside a cluster istiod is the default control plane; outside it, the local file is.
        Uri? xds = r.Url("XDS_ADDRESS")
            ?? (r.String("KUBERNETES_SERVICE_HOST") is not null && localXds is null ? new Uri(IstiodAddress) : null);
        if (xds is not null && localXds is not null)
        {
            throw new ZtunnelConfigException("LOCAL_XDS_PATH", "set either LOCAL_XDS_PATH (local config) or XDS_ADDRESS (istiod), not both");
        }

        bool localCa = certDir is not null || caRootCert is not null || caRootKey is not null;
        Uri? ca = r.Url("CA_ADDRESS") ?? (localCa ? null : xds);
        if (ca is not null && localCa)
        {
            throw new ZtunnelConfigException("CA_ADDRESS", "set either CA_ADDRESS (istiod's CA) or CERT_DIR / CA_ROOT_CERT and CA_ROOT_KEY (a local CA), not both");
        }

        // ztunnel's rule: AUTH_TOKEN names a file when it looks like a path (the file may appear later), else it is the token.
        string? token = r.String("AUTH_TOKEN");
        bool tokenIsPath = token is not null && token.Contains('/', StringComparison.Ordinal);
        string? tokenPath = tokenIsPath ? token : token is null && File.Exists(IstioConnectionOptions.DefaultTokenPath) ? IstioConnectionOptions.DefaultTokenPath : null;
        drain = r.Int("TERMINATION_GRACE_PERIOD_SECONDS", 0, int.MaxValue) is int seconds ? TimeSpan.FromSeconds(seconds) : drain;
        return new ZtunnelConfig
        {
            LocalXdsPath = localXds,
            NodeName = r.String("NODE_NAME"),
            PodNamespace = r.String("POD_NAMESPACE"),
            TrustDomain = r.TrustDomain("TRUST_DOMAIN") ?? d.TrustDomain,
            ClusterId = r.String("ISTIO_META_CLUSTER_ID") ?? r.String("CLUSTER_ID") ?? d.ClusterId,
            Network = r.String("NETWORK") ?? d.Network,
            DnsProxy = r.Bool("ISTIO_META_DNS_CAPTURE") ?? d.DnsProxy,
            DnsProxyAddress = r.LocalEndPoint("ISTIO_META_DNS_PROXY_ADDR") ?? d.DnsProxyAddress,
            DnsResolvConf = r.String("DNS_RESOLV_CONF") ?? d.DnsResolvConf,
            ClusterDomain = r.String("CLUSTER_DOMAIN")?.TrimEnd('.') ?? d.ClusterDomain,
            OutboundPort = r.Port("OUTBOUND_PORT") ?? d.OutboundPort,
            InboundPlaintextPort = r.Port("INBOUND_PLAINTEXT_PORT") ?? d.InboundPlaintextPort,
            InboundPort = r.Port("INBOUND_PORT") ?? d.InboundPort,
            Socks5Port = r.Port("SOCKS5_PORT") ?? d.Socks5Port,
            AdminPort = r.Port("ADMIN_PORT") ?? d.AdminPort,
            StatsPort = r.Port("STATS_PORT") ?? d.StatsPort,
            ReadinessPort = r.Port("READINESS_PORT") ?? d.ReadinessPort,
            InpodUds = r.String("INPOD_UDS") ?? d.InpodUds,
            DrainDeadline = drain,
            PoolMaxStreamsPerConnection = r.Int("POOL_MAX_STREAMS_PER_CONNECTION", 1, int.MaxValue) ?? d.PoolMaxStreamsPerConnection,
            PoolUnusedReleaseTimeout = r.Duration("POOL_UNUSED_RELEASE_TIMEOUT", d.PoolUnusedReleaseTimeout, positive: true),
            CertDir = certDir,
            CaRootCert = caRootCert,
            CaRootKey = caRootKey,
            XdsAddress = xds,
            CaAddress = ca,
            XdsRootCa = r.String("XDS_ROOT_CA") ?? d.XdsRootCa,
            CaRootCa = r.String("CA_ROOT_CA") ?? d.CaRootCa,
            AltXdsHostname = r.String("ALT_XDS_HOSTNAME"),
            AltCaHostname = r.String("ALT_CA_HOSTNAME"),
            AuthTokenPath = tokenPath,
            AuthToken = tokenIsPath ? null : token,
            XdsHeaders = r.Prefixed("XDS_HEADER_"),
            CaHeaders = r.Prefixed("CA_HEADER_"),
            SecretTtl = r.Duration("SECRET_TTL", d.SecretTtl, positive: true),
            PodName = r.String("POD_NAME"),
            InstanceIp = r.String("INSTANCE_IP"),
            ProxyMetadata = r.Prefixed("ISTIO_META_"),
            ProxyMetadataJson = r.Prefixed("ISTIO_METAJSON_"),
            JsonLogs = string.Equals(r.String("LOG_FORMAT"), "json", StringComparison.OrdinalIgnoreCase),
            WorkloadWaitTimeout = r.Duration("WORKLOAD_WAIT_TIMEOUT", d.WorkloadWaitTimeout),
            SocketMark = r.Int("PACKET_MARK", 1, int.MaxValue) ?? d.SocketMark,
            ReleaseStartupPages = r.Bool("HBONE_RELEASE_STARTUP_PAGES") ?? d.ReleaseStartupPages,
        };
    }

    private const string IstiodAddress = "https://istiod.istio-system.svc:15012";

    private IstioConnectionOptions Connection(Uri address, string root, string? altHostname, IReadOnlyDictionary<string, string> headers)
    {
        var options = new IstioConnectionOptions
        {
            Address = address,
            RootCertificate = root,
            AltHostname = altHostname,
            TokenPath = AuthTokenPath,
            StaticToken = AuthToken,
            ClusterId = ClusterId,
        };
        foreach (var (name, value) in headers)
        {
            options.Headers[name] = value;
        }

        return options;
    }
}
