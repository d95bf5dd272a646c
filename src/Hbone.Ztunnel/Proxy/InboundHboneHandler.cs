using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Hbone.Kestrel;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.Telemetry;
using Microsoft.Extensions.Options;

namespace Hbone.Ztunnel.Proxy;

/// <summary>
/// The destination side over HBONE (a pod's 15008): finds the pod the connection arrived for (503 if none), then lets
/// an <see cref="HboneForwarder"/> run ztunnel's checks (authority IP 400, proxy ports 503, policy 401) and connect to
/// the app with the client's address, while the tunnel is tracked for late rejection and reported when it ends.
/// </summary>
internal sealed class InboundHboneHandler : IHboneConnectHandler
{
    private const string OpenedKey = "hbone.ztunnel.opened";
    private const string DeniedKey = "hbone.ztunnel.denied";

    private readonly ProxyContext _context;
    private readonly HboneForwarder _forwarder;

    public InboundHboneHandler(ProxyContext context)
    {
        _context = context;
        var options = new HboneForwarderOptions
        {
            RequireAuthorityMatchesLocalAddress = true,
            Authorize = Authorize,
            CreateSocket = CreateSocket,
        };
        foreach (var port in context.ProxyPorts)
        {
            options.RefusedPorts.Add(port);
        }

        _forwarder = new HboneForwarder(Options.Create(options));
    }

    public async ValueTask HandleAsync(HboneConnectContext connect)
    {
        var started = Stopwatch.GetTimestamp();
        var local = connect.LocalEndPoint;
        var pod = local is null ? null : _context.Pods.FindByAddress(local.Address);
        var snapshot = _context.Store.Current;
        var workload = pod?.Workload;
        var remote = connect.RemoteEndPoint;
        var service = workload is null ? null : InboundService.Guess(snapshot, workload, connect.Authority.ToIPEndPoint()?.Port);
        var report = new ConnectionReport
        {
            Inbound = true,
            Source = connect.ForwardedFor ?? remote,
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

        connect.Items[typeof(PodProxy)] = pod;
        connect.Items[typeof(ConnectionReport)] = report;
        try
        {
            await _forwarder.HandleAsync(connect).ConfigureAwait(false);
        }
        finally
        {
            var connection = connect.Items.TryGetValue(typeof(LiveConnection), out var live) ? live as LiveConnection : null;
            if (connection is not null)
            {
                pod.Untrack(connection);
            }

            var tunnel = connect.Tunnel;
            var denied = connect.Items.TryGetValue(DeniedKey, out var reason) ? reason as string : null;
            _context.Reporter.Report(report with
            {
                Status = connect.StatusCode,
                BytesSent = tunnel?.BytesFromPeer ?? 0,
                BytesReceived = tunnel?.BytesToPeer ?? 0,
                Error = connection?.AbortReason ?? denied ?? connect.RejectReason ?? connect.OutcomeError,
                // Past authorization, a rejection is the upstream connect failing (503).
                ResponseFlags = denied is not null ? ResponseFlags.Deny
                    : connection?.AbortFlags ?? (connect.RejectReason is not null ? ResponseFlags.Connect : ResponseFlags.None),
                Duration = Stopwatch.GetElapsedTime(started),
            }, opened: connect.Items.ContainsKey(OpenedKey));
        }
    }

    private ValueTask<bool> Authorize(HboneConnectContext connect)
    {
        var pod = (PodProxy)connect.Items[typeof(PodProxy)]!;
        var target = connect.Authority.ToIPEndPoint();
        if (target is null || connect.RemoteEndPoint is not { } remote || pod.PolicyFor(_context.Store.Current) is not { } policy)
        {
            return ValueTask.FromResult(false);
        }

        // Counted opened before the policy decides, as ztunnel does: a denial is then closed and failed with DENY.
        _context.Reporter.Opened((ConnectionReport)connect.Items[typeof(ConnectionReport)]!);
        connect.Items[OpenedKey] = true;

        // Identity comes from the peer certificate only; the source address is the TCP peer, never a header.
        var attributes = new ConnectionAttributes(connect.PeerIdentity, remote.Address, target.Address, target.Port, policy.Policies.Workload);
        var decision = policy.Authorize(attributes);
        if (!decision.Allowed)
        {
            connect.Items[DeniedKey] = $"{connect.PeerIdentity} denied by policy: {decision.Reason}{(decision.Policy is null ? "" : $" ({decision.Policy})")}";
            return ValueTask.FromResult(false);
        }

        connect.Items[typeof(LiveConnection)] = pod.Track(attributes, connect.Abort);
        return ValueTask.FromResult(true);
    }

    private Socket CreateSocket(HboneConnectContext connect, IPEndPoint upstream)
    {
        var pod = (PodProxy)connect.Items[typeof(PodProxy)]!;
        var peer = connect.RemoteEndPoint?.Address ?? throw new SocketException((int)SocketError.AddressNotAvailable);

        // The TCP peer is the client, as in ztunnel; only the destination's own waypoint, proven by its certificate,
        // relays for others and may name the original client in Forwarded, so the app sees that client.
        var client = connect.ForwardedFor is { } forwarded && pod.Workload is { } workload && forwarded.AddressFamily == peer.AddressFamily
            && _context.Store.Current.IsWaypointOf(workload, connect.PeerIdentity)
            ? forwarded.Address
            : peer;
        return pod.Sockets.Spoofed(client);
    }
}
