using System.Net.Sockets;
using Hbone;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Kestrel;

namespace Waypoint;

/// <summary>
/// The L4 waypoint and east-west gateway: each CONNECT is checked against the policy by the peer's SPIFFE identity,
/// then either re-originated as the waypoint's own HBONE tunnel to the chosen pod's 15008 (with the original client
/// in <c>Forwarded</c>), or, for an east-west CONNECT by hostname, spliced as raw bytes to the pod's 15008 (the inner
/// TLS and CONNECT are end to end between the client and the pod).
/// </summary>
public sealed class WaypointHandler(WaypointRouter router, HboneClient client, ISvidSource identity) : IHboneConnectHandler
{
    /// <summary>How long connecting to a pod may take.</summary>
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    public async ValueTask HandleAsync(HboneConnectContext context)
    {
        if (!router.Allows(context.PeerIdentity))
        {
            await context.RejectAsync(401, $"RBAC: {context.PeerIdentity} is not allowed through the waypoint");
            return;
        }

        if (router.Find(context.Authority) is not { } route)
        {
            await context.RejectAsync(503, $"no service behind this waypoint for {context.Authority}");
            return;
        }

        if (route.EastWest)
        {
            await SpliceAsync(context, route);
        }
        else
        {
            await ReoriginateAsync(context, route);
        }
    }

    private async Task ReoriginateAsync(HboneConnectContext context, WaypointRoute route)
    {
        HboneStream upstream;
        try
        {
            upstream = await client.ConnectAsync(new HboneRequest
            {
                Destination = route.Endpoint.HboneEndPoint,
                Authority = route.Endpoint.Authority,
                ExpectedIdentities = [SpiffeId.Parse(route.Endpoint.Identity)],
                Source = identity,

                // The original client, as the ztunnel told us (or the peer itself when it did not): the pod sees it, not us.
                ForwardedFor = context.ForwardedFor ?? context.RemoteEndPoint,
                ForwardedHost = route.Service.Hostname,
                Baggage = context.Baggage,
                TraceParent = context.TraceParent,
            }, context.Aborted);
        }
        catch (Exception ex) when (ex is HboneException or SocketException or IOException or OperationCanceledException)
        {
            await context.RejectAsync(503, $"{route.Endpoint.Address}: {ex.Message}");
            return;
        }

        await using (upstream)
        {
            var tunnel = await context.AcceptAsync(context.Aborted);
            context.SetOutcome(await tunnel.CopyToAsync(upstream, context.Aborted));
        }
    }

    private static async Task SpliceAsync(HboneConnectContext context, WaypointRoute route)
    {
        using var pod = new Socket(route.Endpoint.HboneEndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.Aborted);
            timeout.CancelAfter(ConnectTimeout);
            await pod.ConnectAsync(route.Endpoint.HboneEndPoint, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            await context.RejectAsync(503, $"{route.Endpoint.HboneEndPoint}: {ex.Message}");
            return;
        }

        var tunnel = await context.AcceptAsync(context.Aborted);
        context.SetOutcome(await tunnel.CopyToAsync(pod, context.Aborted));
    }
}
