using Hbone.Client;
using Hbone.Identity;
using Hbone.Kestrel;
using Microsoft.Extensions.DependencyInjection;

namespace Waypoint;

/// <summary>The waypoint's services, the same whether its identity and services come from files or from istiod.</summary>
public static class WaypointServiceCollectionExtensions
{
    /// <summary>
    /// Registers the HBONE server with the <see cref="WaypointHandler"/>, presenting <paramref name="identity"/> and
    /// trusting <paramref name="trust"/>, and the client it opens its own tunnels to pods with (same identity and trust).
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="identity">The waypoint's SVID.</param>
    /// <param name="trust">The roots peers and pods must chain to.</param>
    /// <param name="router">Where each CONNECT goes.</param>
    /// <param name="accessLog">Called once per tunnel when it ends.</param>
    public static HboneServerBuilder AddWaypoint(this IServiceCollection services, ISvidSource identity, ITrustBundleSource trust, WaypointRouter router, Action<HboneTunnelLog>? accessLog = null)
    {
        services.AddSingleton(identity);
        services.AddSingleton(router);
        services.AddSingleton(_ => new HboneClient(new HboneClientOptions { Certificate = identity, TrustBundle = trust }));
        return services.AddHboneServer(o =>
        {
            o.Certificate = identity;
            o.TrustBundle = trust;
            o.OnTunnelCompleted = accessLog;
        }).AddHandler<WaypointHandler>();
    }
}
