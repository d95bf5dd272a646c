using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Hbone.Kestrel;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.Telemetry;
using Microsoft.Extensions.Options;

namespace Hbone.Ztunnel.Proxy.Inbound;

/// <summary>
/// The destination side over HBONE (a pod's 15008), in ztunnel's order: find the pod the connection arrived for (503
/// if none), check the target (authority IP 400, proxy ports 503), authorize by the peer's identity (401), then connect
/// to the app with the client's address and relay, while the tunnel is tracked for late rejection and reported when it ends.
/// </summary>
internal sealed class InboundHboneHandler : IHboneConnectHandler
{
    private readonly ProxyContext _context;
    private readonly HboneForwarderOptions _options;
    private readonly HboneForwarder _forwarder;

    public InboundHboneHandler(ProxyContext context)
    {
        _context = context;
        _options = new HboneForwarderOptions { RequireAuthorityMatchesLocalAddress = true };
        foreach (var port in context.ProxyPorts)
        {
            _options.RefusedPorts.Add(port);
        }

        _forwarder = new HboneForwarder(Options.Create(_options));
    }

    public async ValueTask HandleAsync(HboneConnectContext connect)
    {
        var started = Stopwatch.GetTimestamp();
        var local = connect.LocalEndPoint;
        var pod = local is null ? null : _context.Pods.FindByAddress(local.Address);
        var snapshot = _context.Store.Current;
        var workload = pod?.Workload;
        var remote = connect.RemoteEndPoint;
        var client = InboundClient.Resolve(remote, connect.ForwardedFor, connect.PeerIdentity, workload, snapshot);
        var service = workload is null ? null : InboundService.Guess(snapshot, workload, connect.Authority.ToIPEndPoint()?.Port);
        var report = new ConnectionReport
        {
            Inbound = true,
            Source = client,
            Destination = connect.Authority.ToIPEndPoint() ?? local,
            SourceWorkload = remote is null ? null : snapshot.FindWorkload(_context.Store.Network, remote.Address),
            SourceIdentity = connect.PeerIdentity,
            DestinationWorkload = workload,
            DestinationIdentity = connect.LocalIdentity,
            DestinationService = service?.Hostname,
            DestinationServiceName = service?.Name,
            DestinationServiceNamespace = service?.Namespace,
            MutualTls = true,
            Live = new LiveBytes(() => (connect.Tunnel?.BytesFromPeer ?? 0, connect.Tunnel?.BytesToPeer ?? 0)),
        };
        if (pod is null || workload is null || pod.Draining)
        {
            await connect.RejectAsync(HboneErrorReason.DestinationNotFound, $"no workload is served here for {local}").ConfigureAwait(false);
            _context.Reporter.Report(report with { Status = connect.StatusCode, Error = connect.RejectReason, Duration = Stopwatch.GetElapsedTime(started) }, opened: false);
            return;
        }

        LiveConnection? live = null;
        string? denied = null;
        var opened = false;
        try
        {
            if (!await HboneTargetChecks.CheckAsync(connect, _options).ConfigureAwait(false))
            {
                return;
            }

            var target = connect.Authority.ToIPEndPoint();
            (live, denied, opened) = Authorize(connect, pod, target, report);
            if (live is null || target is null)
            {
                await connect.RejectAsync(HboneErrorReason.Unauthorized, $"{connect.PeerIdentity} is not allowed").ConfigureAwait(false);
                return;
            }

            var upstream = CreateSocket(client, pod);
            await _forwarder.ConnectAndRelayAsync(connect, upstream, target).ConfigureAwait(false);
        }
        finally
        {
            if (live is not null)
            {
                pod.Connections.Untrack(live);
            }

            var tunnel = connect.Tunnel;
            _context.Reporter.Report(report with
            {
                Status = connect.StatusCode,
                BytesSent = tunnel?.BytesFromPeer ?? 0,
                BytesReceived = tunnel?.BytesToPeer ?? 0,
                Error = live?.AbortReason ?? denied ?? connect.RejectReason ?? connect.OutcomeError,
                // Past authorization, a rejection is the upstream connect failing (503).
                ResponseFlags = denied is not null ? ResponseFlags.Deny
                    : live?.AbortFlags ?? (connect.RejectReason is not null ? ResponseFlags.Connect : ResponseFlags.None),
                Duration = Stopwatch.GetElapsedTime(started),
            }, opened);
        }
    }

    /// <summary>
    /// The L4 decision by the peer's certificate identity: the tracked live connection when allowed, else why not; the
    /// connection counts as opened once a policy decides, as ztunnel counts it (a denial then closes and fails with DENY).
    /// </summary>
    private (LiveConnection? Live, string? Denied, bool Opened) Authorize(HboneConnectContext connect, PodProxy pod, IPEndPoint? target, ConnectionReport report)
    {
        if (target is null || connect.RemoteEndPoint is not { } remote || pod.Policy.For(_context.Store.Current) is not { } policy)
        {
            return (null, null, false);
        }

        _context.Reporter.Opened(report);

        // Identity comes from the peer certificate only; the source address is the TCP peer, never a header.
        var attributes = new ConnectionAttributes(connect.PeerIdentity, remote.Address, target.Address, target.Port, policy.Policies.Workload);
        var decision = policy.Authorize(attributes);
        return decision.Allowed
            ? (pod.Connections.Track(attributes, connect.Abort), null, true)
            : (null, $"{connect.PeerIdentity} denied by policy: {decision.Reason}{(decision.Policy is null ? "" : $" ({decision.Policy})")}", true);
    }

    /// <summary>The socket to the app, bound to the client's address (the same one the report names), so the app sees that client.</summary>
    private static Socket CreateSocket(IPEndPoint? client, PodProxy pod) =>
        pod.Sockets.Spoofed(client?.Address ?? throw new SocketException((int)SocketError.AddressNotAvailable));
}
