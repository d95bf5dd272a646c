using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Hbone.Relay;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Dns;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Hbone.Ztunnel.Zds;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.Proxy;

/// <summary>
/// The proxy of one enrolled pod: its capture listeners live inside the pod's network namespace (15001 outbound,
/// 15006 plaintext inbound, 15008 HBONE inbound, 127.0.0.1:15080 SOCKS5, the DNS proxy on 127.0.0.1:15053) and every
/// connection through them is tracked.
/// </summary>
internal sealed partial class PodProxy : IAsyncDisposable
{
    private readonly ProxyContext _context;
    private readonly SafeFileHandle _netns;
    private readonly NetnsExecutor _executor;
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<LiveConnection, byte> _connections = new();
    private readonly ConcurrentDictionary<int, byte> _ownPorts = new();
    private readonly ConcurrentDictionary<ConnectionContext, byte> _hboneConnections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _policyGate = new();
    private PolicyEngine? _policy;
    private WorkloadSnapshot? _policySnapshot;
    private bool _policyPresent;
    private readonly ILogger _logger;
    private readonly List<PodDnsServer> _dns = [];
    private TaskCompletionSource _untracked = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PodProxy(string uid, WorkloadInfo info, SafeFileHandle netns, ProxyContext context)
    {
        Uid = uid;
        Info = info;
        _netns = netns;
        _context = context;
        _executor = new NetnsExecutor(netns, $"{info.Namespace}/{info.Name}");
        Sockets = new PodSockets(_executor, context.Config.SocketMark);
        _logger = context.LoggerFactory.CreateLogger<PodProxy>();
    }

    public string Uid { get; }

    public WorkloadInfo Info { get; }

    public PodSockets Sockets { get; }

    /// <summary>True once a drain started: the pod takes no new connections.</summary>
    public bool Draining => _stopping.IsCancellationRequested;

    /// <summary>The pod's workload in the current config, when the config knows it.</summary>
    public Workload? Workload => _context.Store.FindWorkloadByUid(Uid);

    /// <summary>The pod's first address in the current config.</summary>
    public IPAddress? Address => Workload is { WorkloadIps.Count: > 0 } w ? w.WorkloadIps[0] : null;

    /// <summary>The pod's first address of <paramref name="family"/> in the current config (a dual-stack pod has one of each).</summary>
    public IPAddress? AddressOf(AddressFamily family) => Workload?.WorkloadIps.FirstOrDefault(ip => ip.AddressFamily == family);

    public int ConnectionCount => _connections.Count;

    /// <summary>Opens the listeners in the pod's namespace and starts accepting.</summary>
    public void Start()
    {
        var config = _context.Config;
        try
        {
            Listen(new IPEndPoint(IPAddress.Any, config.OutboundPort), transparent: true, socket => _ = _context.Outbound.HandleAsync(this, socket));
            Listen(new IPEndPoint(IPAddress.Any, config.InboundPlaintextPort), transparent: true, socket => _ = _context.InboundPlaintext.HandleAsync(this, socket));
            Listen(new IPEndPoint(IPAddress.Any, config.InboundPort), transparent: true, socket => HandOverToKestrel(socket));
            Listen(new IPEndPoint(IPAddress.Loopback, config.Socks5Port), transparent: false, socket => _ = _context.Socks5.HandleAsync(this, socket));
            if (_context.Dns is { } dns)
            {
                _dns.Add(new PodDnsServer(Sockets, config.DnsProxyAddress, () => Workload, dns));
            }

            // The IPv6 twins, where the pod's namespace has IPv6 (dual-stack capture: the ip6tables rules send here).
            if (Sockets.SupportsIPv6())
            {
                Listen(new IPEndPoint(IPAddress.IPv6Any, config.OutboundPort), transparent: true, socket => _ = _context.Outbound.HandleAsync(this, socket));
                Listen(new IPEndPoint(IPAddress.IPv6Any, config.InboundPlaintextPort), transparent: true, socket => _ = _context.InboundPlaintext.HandleAsync(this, socket));
                Listen(new IPEndPoint(IPAddress.IPv6Any, config.InboundPort), transparent: true, socket => HandOverToKestrel(socket));
                if (_context.Dns is { } dns6 && IPAddress.IsLoopback(config.DnsProxyAddress.Address))
                {
                    _dns.Add(new PodDnsServer(Sockets, new IPEndPoint(IPAddress.IPv6Loopback, config.DnsProxyAddress.Port), () => Workload, dns6));
                }
            }
        }
        catch
        {
            CloseListeners();
            foreach (PodDnsServer dns in _dns)
            {
                _ = dns.DisposeAsync(); // closes its sockets before it returns
            }

            throw;
        }
    }

    /// <summary>
    /// The L4 authorization of this pod's workload, with the policies of <paramref name="snapshot"/> (the set is
    /// rebuilt once per snapshot); null when the workload is not in it.
    /// </summary>
    public PolicyEngine? PolicyFor(WorkloadSnapshot snapshot)
    {
        lock (_policyGate)
        {
            if (!ReferenceEquals(_policySnapshot, snapshot))
            {
                _policySnapshot = snapshot;
                var set = snapshot.FindWorkloadByUid(Uid) is { } workload
                    ? PolicySet.Create(new DestinationWorkload(workload.Namespace, workload.Name, workload.Labels, workload.AuthorizationPolicies), snapshot.Config.Policies, snapshot.MissingPolicies(workload))
                    : null;
                if (set is not null)
                {
                    if (_policy is null)
                    {
                        _policy = new PolicyEngine(set);
                    }
                    else
                    {
                        _policy.Update(set);
                    }
                }

                _policyPresent = set is not null;
            }

            return _policyPresent ? _policy : null;
        }
    }

    public LiveConnection Track(ConnectionAttributes? attributes, Action? onAbort = null)
    {
        var connection = new LiveConnection(attributes, onAbort);
        _connections.TryAdd(connection, 0);
        if (Draining)
        {
            connection.Abort("the pod is draining", ResponseFlags.Connect);
        }

        return connection;
    }

    public void Untrack(LiveConnection connection)
    {
        connection.Complete();
        _connections.TryRemove(connection, out _);
        Interlocked.Exchange(ref _untracked, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Closes the live inbound connections that <paramref name="snapshot"/> no longer allows (late rejection) or whose workload is gone.</summary>
    public int Recheck(WorkloadSnapshot snapshot)
    {
        var live = new Dictionary<ConnectionAttributes, LiveConnection>(ReferenceEqualityComparer.Instance);
        foreach (var connection in _connections.Keys)
        {
            if (connection.Attributes is { } attributes)
            {
                live[attributes] = connection;
            }
        }

        if (PolicyFor(snapshot) is not { } policy)
        {
            foreach (var connection in live.Values)
            {
                connection.Abort("the destination workload was removed", ResponseFlags.Deny);
            }

            return live.Count;
        }

        var denied = policy.Recheck(live.Keys);
        foreach (var attributes in denied)
        {
            live[attributes].Abort($"denied after a policy change: {policy.Authorize(attributes).Reason}", ResponseFlags.Deny);
        }

        return denied.Count;
    }

    /// <summary>Remembers a local port of a socket this proxy opened without going through HBONE, to spot it coming back (a loop).</summary>
    public void AddOwnPort(int port) => _ownPorts.TryAdd(port, 0);

    public void RemoveOwnPort(int port) => _ownPorts.TryRemove(port, out _);

    /// <summary>True when <paramref name="peer"/> is a socket this proxy opened itself: the connection looped back (SelfCall).</summary>
    public bool IsOwnConnection(IPEndPoint peer) => _ownPorts.ContainsKey(peer.Port) && Workload?.WorkloadIps.Contains(peer.Address) != false;

    /// <summary>
    /// Refuses new connections (accepted and reset at once, so clients fail fast instead of waiting on dropped
    /// SYNs), sends GOAWAY on the pod's inbound HBONE connections and drains its pooled outbound ones, lets open
    /// tunnels run until <paramref name="deadline"/>, then closes the rest and the listeners.
    /// </summary>
    public async Task DrainAsync(TimeSpan deadline)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        using var timeout = new CancellationTokenSource(deadline);

        // Peers learn at once that no new stream may start here; their open tunnels carry on.
        int goAways = 0;
        foreach (var hbone in _hboneConnections.Keys)
        {
            if (hbone.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
            {
                lifetime.RequestClose();
                goAways++;
            }
        }

        using var graceOver = new CancellationTokenSource();
        Task outbound = _context.Client is { } client && Workload is { } workload
            ? Task.WhenAll(workload.WorkloadIps.Select(ip => client.DrainConnectionsAsync(ip, graceOver.Token)))
            : Task.CompletedTask;
        LogDraining(_logger, Uid, goAways, deadline.TotalSeconds);
        while (!timeout.IsCancellationRequested)
        {
            var untracked = Volatile.Read(ref _untracked).Task;
            if (_connections.IsEmpty)
            {
                break;
            }

            await untracked.WaitAsync(timeout.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        foreach (var connection in _connections.Keys)
        {
            connection.Abort("drain deadline reached", ResponseFlags.Connect);
        }

        // What is still open now only carries tunnels that were just aborted.
        await graceOver.CancelAsync().ConfigureAwait(false);
        await outbound.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var hbone in _hboneConnections.Keys)
        {
            hbone.Abort(new ConnectionAbortedException("the pod was removed"));
        }

        CloseListeners();
        foreach (PodDnsServer dns in _dns)
        {
            await dns.DisposeAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
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
        if (!_context.InboundTransport.TryEnqueue(socket, Adopt))
        {
            TunnelRelay.Reset(socket);
        }
    }

    private void Adopt(ConnectionContext connection)
    {
        _hboneConnections.TryAdd(connection, 0);
        connection.ConnectionClosed.Register(() => _hboneConnections.TryRemove(connection, out _));
    }

    private void Listen(IPEndPoint endPoint, bool transparent, Action<Socket> handle)
    {
        var listener = Sockets.Listen(endPoint, transparent);
        _listeners.Add(listener);
        _acceptLoops.Add(AcceptLoopAsync(listener, handle));
    }

    private async Task AcceptLoopAsync(Socket listener, Action<Socket> handle)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return;
            }

            if (Draining)
            {
                TunnelRelay.Reset(accepted);
                continue;
            }

            accepted.NoDelay = true;
            handle(accepted);
        }
    }

    private void CloseListeners()
    {
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
    }

    [LoggerMessage(1, LogLevel.Information, "pod {Uid} draining: GOAWAY on {GoAways} inbound HBONE connection(s), pooled outbound connections draining, {Seconds} s for open tunnels")]
    private static partial void LogDraining(ILogger logger, string uid, int goAways, double seconds);
}
