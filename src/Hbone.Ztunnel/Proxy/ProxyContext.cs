using Hbone.Client;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Identity;
using Hbone.Ztunnel.State;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Proxy;

/// <summary>What every pod's proxy shares: configuration, state, identities, the HBONE client and the handlers.</summary>
internal sealed class ProxyContext
{
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

    /// <summary>Completes at the next config change.</summary>
    public Task ConfigChanged => Volatile.Read(ref _configChanged).Task;

    public void NotifyConfigChanged() =>
        Interlocked.Exchange(ref _configChanged, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
