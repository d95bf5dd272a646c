using Hbone.Client;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Dns;
using Hbone.Ztunnel.Identity;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Proxy;

/// <summary>What every pod's proxy shares: configuration, state, identities, the HBONE client and the handlers.</summary>
internal sealed partial class ProxyContext
{
    // Per upstream resolver, as the resolver library ztunnel uses (hickory) waits by default.
    private static readonly TimeSpan UpstreamTimeout = TimeSpan.FromSeconds(5);

    private TaskCompletionSource _configChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ProxyContext(ZtunnelConfig config, WorkloadStore store, IWorkloadCertificates identities, PodRegistry pods, ConnectionReporter reporter, ILoggerFactory loggerFactory)
    {
        Config = config;
        Store = store;
        Identities = identities;
        Pods = pods;
        Reporter = reporter;
        LoggerFactory = loggerFactory;
        ProxyPorts = config.ProxyPorts;
        InboundTransport = new PodInboundTransport(loggerFactory);
        Outbound = new OutboundProxy(this);
        InboundPlaintext = new InboundPlaintextProxy(this);
        Socks5 = new Socks5Proxy(this);
        Dns = config.DnsProxy ? CreateDnsResponder(config, store, reporter, loggerFactory) : null;
    }

    public ZtunnelConfig Config { get; }

    public WorkloadStore Store { get; }

    public IWorkloadCertificates Identities { get; }

    public PodRegistry Pods { get; }

    public ConnectionReporter Reporter { get; }

    public ILoggerFactory LoggerFactory { get; }

    public IReadOnlySet<int> ProxyPorts { get; }

    /// <summary>The HBONE client every pod's outbound traffic shares (its pool is keyed by source identity and address).</summary>
    public HboneClient Client { get; set; } = null!;

    public PodInboundTransport InboundTransport { get; }

    public OutboundProxy Outbound { get; }

    public InboundPlaintextProxy InboundPlaintext { get; }

    public Socks5Proxy Socks5 { get; }

    /// <summary>Answers the pods' DNS queries; null when the DNS proxy is off (<c>ISTIO_META_DNS_CAPTURE=false</c>).</summary>
    public DnsResponder? Dns { get; }

    /// <summary>Completes at the next config change.</summary>
    public Task ConfigChanged => Volatile.Read(ref _configChanged).Task;

    public void NotifyConfigChanged() =>
        Interlocked.Exchange(ref _configChanged, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private static DnsResponder CreateDnsResponder(ZtunnelConfig config, WorkloadStore store, ConnectionReporter reporter, ILoggerFactory loggerFactory)
    {
        ILogger<DnsResponder> logger = loggerFactory.CreateLogger<DnsResponder>();
        DnsUpstream? upstream = null;
        try
        {
            upstream = new DnsUpstream(ResolvConf.Load(config.DnsResolvConf), UpstreamTimeout);
        }
        catch (ZtunnelDnsException ex)
        {
            // Mesh names still resolve; everything else gets SERVFAIL until the ztunnel restarts with a resolver.
            LogNoUpstream(logger, ex.Message);
        }

        return new DnsResponder(store, new MeshNameLookup(config.ClusterDomain), upstream, logger, reporter.Metrics);
    }

    [LoggerMessage(1, LogLevel.Warning, "dns: {Problem}; queries for names outside the mesh will get SERVFAIL")]
    private static partial void LogNoUpstream(ILogger logger, string problem);
}
