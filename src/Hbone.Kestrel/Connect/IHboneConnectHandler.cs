namespace Hbone.Kestrel;

/// <summary>
/// Handles one validated CONNECT: check policy, then <see cref="HboneConnectContext.AcceptAsync"/> and use the
/// tunnel, or <see cref="HboneConnectContext.RejectAsync(int, string?)"/>. Returning without answering answers 503.
/// </summary>
public interface IHboneConnectHandler
{
    /// <summary>Handles the CONNECT; the tunnel ends when the returned task completes.</summary>
    ValueTask HandleAsync(HboneConnectContext context);
}
