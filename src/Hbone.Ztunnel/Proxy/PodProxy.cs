using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Hbone.Relay;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Dns;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Hbone.Ztunnel.Zds;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.Proxy;

/// <summary>
/// The proxy of one enrolled pod: its capture listeners inside the pod's network namespace (15001 outbound, 15006
/// plaintext inbound, 15008 HBONE inbound, 127.0.0.1:15080 SOCKS5, the DNS proxy on 127.0.0.1:15053), its live
/// connections and its policy; it starts them together and drains them together.
/// </summary>
internal sealed partial class PodProxy : IAsyncDisposable
{
    private readonly ProxyContext _context;
    private readonly SafeFileHandle _netns;
    private readonly NetnsExecutor _executor;
    private readonly PodListeners _listeners;
    private readonly ConcurrentDictionary<int, byte> _ownPorts = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ILogger _logger;
    private readonly List<PodDnsServer> _dns = [];

    public PodProxy(string uid, WorkloadInfo info, SafeFileHandle netns, ProxyContext context)
    {
        Uid = uid;
        Info = info;
        _netns = netns;
        _context = context;
        _executor = new NetnsExecutor(netns, $"{info.Namespace}/{info.Name}");
        Sockets = new PodSockets(_executor, context.Config.SocketMark);
        Policy = new PodPolicy(FindWorkload);
        _listeners = new PodListeners(Sockets, () => Draining);
        _logger = context.LoggerFactory.CreateLogger<PodProxy>();
    }

    public string Uid { get; }

    public WorkloadInfo Info { get; }

    public PodSockets Sockets { get; }

    /// <summary>The pod's live connections.</summary>
    public ConnectionManager Connections { get; } = new();

    /// <summary>The pod's L4 authorization, per config snapshot.</summary>
    public PodPolicy Policy { get; }

    /// <summary>True once a drain started: the pod takes no new connections.</summary>
    public bool Draining => _stopping.IsCancellationRequested;

    /// <summary>The pod's workload in the current config, when the config knows it.</summary>
    public Workload? Workload => FindWorkload(_context.Store.Current);

    /// <summary>The pod's first address in the current config.</summary>
    public IPAddress? Address => Workload is { WorkloadIps.Count: > 0 } w ? w.WorkloadIps[0] : null;

    /// <summary>The pod's first address of <paramref name="family"/> in the current config (a dual-stack pod has one of each).</summary>
    public IPAddress? AddressOf(AddressFamily family) => Workload?.WorkloadIps.FirstOrDefault(ip => ip.AddressFamily == family);

    /// <summary>The pod's workload in <paramref name="snapshot"/>, matched as ztunnel matches it.</summary>
    public Workload? FindWorkload(WorkloadSnapshot snapshot) =>
        snapshot.FindPodWorkload(Uid, Info.Namespace, Info.Name, Info.ServiceAccount, _context.Config.NodeName);

    /// <summary>Opens the listeners in the pod's namespace and starts accepting.</summary>
    public void Start()
    {
        var config = _context.Config;
        try
        {
            _listeners.Listen(new IPEndPoint(IPAddress.Any, config.OutboundPort), transparent: true, socket => _ = _context.Outbound.HandleAsync(this, socket));
            _listeners.Listen(new IPEndPoint(IPAddress.Any, config.InboundPlaintextPort), transparent: true, socket => _ = _context.InboundPlaintext.HandleAsync(this, socket));
            _listeners.Listen(new IPEndPoint(IPAddress.Any, config.InboundPort), transparent: true, HandOverToKestrel);
            _listeners.Listen(new IPEndPoint(IPAddress.Loopback, config.Socks5Port), transparent: false, socket => _ = _context.Socks5.HandleAsync(this, socket));
            if (_context.Dns is { } dns)
            {
                _dns.Add(new PodDnsServer(Sockets, config.DnsProxyAddress, () => Workload, dns));
            }

            // The IPv6 twins, where the pod's namespace has IPv6 (dual-stack capture: the ip6tables rules send here).
            if (Sockets.SupportsIPv6())
            {
                _listeners.Listen(new IPEndPoint(IPAddress.IPv6Any, config.OutboundPort), transparent: true, socket => _ = _context.Outbound.HandleAsync(this, socket));
                _listeners.Listen(new IPEndPoint(IPAddress.IPv6Any, config.InboundPlaintextPort), transparent: true, socket => _ = _context.InboundPlaintext.HandleAsync(this, socket));
                _listeners.Listen(new IPEndPoint(IPAddress.IPv6Any, config.InboundPort), transparent: true, HandOverToKestrel);
                if (_context.Dns is { } dns6 && IPAddress.IsLoopback(config.DnsProxyAddress.Address))
                {
                    _dns.Add(new PodDnsServer(Sockets, new IPEndPoint(IPAddress.IPv6Loopback, config.DnsProxyAddress.Port), () => Workload, dns6));
                }
            }
        }
        catch
        {
            _listeners.Close();
            foreach (PodDnsServer dns in _dns)
            {
                _ = dns.DisposeAsync(); // closes its sockets before it returns
            }

            throw;
        }
    }

    /// <summary>Closes the live inbound connections that the current config no longer allows (late rejection) or whose workload is gone.</summary>
    public int Recheck(WorkloadSnapshot snapshot) => Connections.Recheck(Policy.For(snapshot));

    /// <summary>Remembers a local port of a socket this proxy opened without going through HBONE, to spot it coming back (a loop).</summary>
    public void AddOwnPort(int port) => _ownPorts.TryAdd(port, 0);

    public void RemoveOwnPort(int port) => _ownPorts.TryRemove(port, out _);

    /// <summary>True when <paramref name="peer"/> is a socket this proxy opened itself: the connection looped back (SelfCall).</summary>
    public bool IsOwnConnection(IPEndPoint peer) => _ownPorts.ContainsKey(peer.Port) && Workload?.WorkloadIps.Contains(peer.Address) != false;

    /// <summary>
    /// Refuses new connections (accepted and reset at once), sends GOAWAY on the pod's inbound HBONE connections and
    /// drains its pooled outbound ones, lets open tunnels run until <paramref name="deadline"/>, then closes the rest
    /// and the listeners.
    /// </summary>
    public async Task DrainAsync(TimeSpan deadline)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        using var timeout = new CancellationTokenSource(deadline);

        // Peers learn at once that no new stream may start here; their open tunnels carry on.
        var goAways = Connections.StartDraining();
        using var graceOver = new CancellationTokenSource();
        Task outbound = _context.Client is { } client && Workload is { } workload
            ? Task.WhenAll(workload.WorkloadIps.Select(ip => client.DrainConnectionsAsync(ip, graceOver.Token)))
            : Task.CompletedTask;
        LogDraining(_logger, Uid, goAways, deadline.TotalSeconds);
        await Connections.WaitUntilEmptyAsync(timeout.Token).ConfigureAwait(false);
        Connections.AbortAll("drain deadline reached");

        // What is still open now only carries tunnels that were just aborted.
        await graceOver.CancelAsync().ConfigureAwait(false);
        await outbound.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Connections.AbortHbone("the pod was removed");
        _listeners.Close();
        foreach (PodDnsServer dns in _dns)
        {
            await dns.DisposeAsync().ConfigureAwait(false);
        }

        await _listeners.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        if (!Draining)
        {
            await DrainAsync(TimeSpan.Zero).ConfigureAwait(false);
        }

        _executor.Dispose();
        _netns.Dispose();
    }

    private void HandOverToKestrel(Socket socket)
    {
        if (!_context.InboundTransport.TryEnqueue(socket, Connections.AdoptHbone))
        {
            TunnelRelay.Reset(socket);
        }
    }

    [LoggerMessage(1, LogLevel.Information, "pod {Uid} draining: GOAWAY on {GoAways} inbound HBONE connection(s), pooled outbound connections draining, {Seconds} s for open tunnels")]
    private static partial void LogDraining(ILogger logger, string uid, int goAways, double seconds);
}
