using System.Net;

namespace Hbone.Kestrel;

/// <summary>
/// The checks on a CONNECT's target that come before authorization, in ztunnel's order. <see cref="HboneForwarder"/>
/// runs them first; a handler with its own authorization step (a node proxy's policy) runs them itself and then hands
/// the connection to <see cref="HboneForwarder.ConnectAndRelayAsync"/>.
/// </summary>
public static class HboneTargetChecks
{
    /// <summary>
    /// Answers the CONNECT and returns false when its authority IP is not the local address while
    /// <see cref="HboneForwarderOptions.RequireAuthorityMatchesLocalAddress"/> is set (400), or its port is one of
    /// <see cref="HboneForwarderOptions.RefusedPorts"/> (503); returns true when it may go on.
    /// </summary>
    public static async ValueTask<bool> CheckAsync(HboneConnectContext context, HboneForwarderOptions options)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(options);
        var authority = context.Authority;
        if (options.RequireAuthorityMatchesLocalAddress && authority.Address is { } target && context.LocalEndPoint is { } local
            && !Normalize(target).Equals(Normalize(local.Address)))
        {
            await context.RejectAsync(HboneErrorReason.AuthorityIpMismatch, "ip mismatch").ConfigureAwait(false);
            return false;
        }

        if (options.RefusedPorts.Contains(authority.Port))
        {
            await context.RejectAsync(HboneErrorReason.ProxyPortTarget, $"target port {authority.Port} is a proxy port").ConfigureAwait(false);
            return false;
        }

        return true;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
