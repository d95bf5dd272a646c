using System.Net;
using Hbone.Identity;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Proxy.Inbound;

/// <summary>
/// The certificate an inbound HBONE handshake presents: each pod its own identity, found by the connection's local
/// address (a TPROXY'd connection arrives on the pod's address).
/// </summary>
internal sealed partial class InboundCertificates(ProxyContext context, ILogger<InboundCertificates> logger)
{
    /// <summary>The pod's SVID, or null (the handshake fails and the peer retries) when no pod or certificate is there.</summary>
    public Svid? Select(IPEndPoint? local)
    {
        if (local is null || context.Pods.FindByAddress(local.Address)?.Workload is not { } workload)
        {
            return null;
        }

        try
        {
            return context.Identities.For(context.Store.Current.IdentityOf(workload)).GetSvid();
        }
        catch (Hbone.Istio.IstioException ex)
        {
            // Not issued yet (prefetch normally prevents this).
            LogNoCertificate(logger, local, ex.Message);
            return null;
        }
    }

    [LoggerMessage(4, LogLevel.Warning, "inbound handshake to {Local} refused: {Error}")]
    private static partial void LogNoCertificate(ILogger logger, IPEndPoint local, string error);
}
