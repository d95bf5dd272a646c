namespace Hbone.Identity;

/// <summary>The current SVID of one workload identity; read it per TLS handshake so renewals apply without restarts.</summary>
public interface ISvidSource
{
    /// <summary>The SVID to present now.</summary>
    Svid GetSvid();

    /// <summary>Raised after the SVID was replaced.</summary>
    event EventHandler? Changed;
}
