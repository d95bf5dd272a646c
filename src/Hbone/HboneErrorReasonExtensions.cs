namespace Hbone;

/// <summary>Maps failure reasons to the answers ztunnel gives on the wire.</summary>
public static class HboneErrorReasonExtensions
{
    /// <summary>The CONNECT status for <paramref name="reason"/>: 400, 401, 503, or 0 when the failure is not answered with a status.</summary>
    public static int ToStatusCode(this HboneErrorReason reason) => reason switch
    {
        HboneErrorReason.MethodNotConnect or HboneErrorReason.InvalidAuthority or HboneErrorReason.AuthorityIpMismatch => 400,
        HboneErrorReason.Unauthorized => 401,
        HboneErrorReason.DestinationNotFound or HboneErrorReason.ProxyPortTarget
            or HboneErrorReason.UpstreamConnectFailed or HboneErrorReason.UpstreamConnectTimeout => 503,
        _ => 0,
    };
}
