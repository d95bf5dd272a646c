using System.Net;
using Hbone.Identity;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Proxy.Inbound;

/// <summary>
/// Who the client of an inbound HBONE tunnel is. ztunnel takes the TCP peer, always (its <c>Forwarded</c> parsing reads
/// only <c>host=</c>). We take the TCP peer too, except from the destination's own waypoint, proven by its certificate:
/// it relays for others and names the original client in <c>Forwarded: for=</c>. One decision for the app's socket source
/// and for the connection report (the access log's src.addr), so a header can never log a client the app did not see.
/// </summary>
internal static class InboundClient
{
    /// <summary>The client's address and port: <paramref name="forwardedFor"/> from the destination's waypoint, else <paramref name="peer"/>.</summary>
    /// <param name="peer">The TCP peer of the HBONE connection.</param>
    /// <param name="forwardedFor">The <c>Forwarded: for=</c> of the CONNECT, if any.</param>
    /// <param name="peerIdentity">The peer's identity, from its certificate.</param>
    /// <param name="destination">The workload the tunnel is for, when one is served here.</param>
    /// <param name="snapshot">The config that names the destination's waypoint.</param>
    public static IPEndPoint? Resolve(IPEndPoint? peer, IPEndPoint? forwardedFor, SpiffeId peerIdentity, Workload? destination, WorkloadSnapshot snapshot)
    {
        // The app's socket binds the client address, so a waypoint may only name one of the peer's own family.
        return forwardedFor is not null && peer is not null && destination is not null
            && forwardedFor.AddressFamily == peer.AddressFamily
            && snapshot.IsWaypointOf(destination, peerIdentity)
            ? forwardedFor
            : peer;
    }
}
