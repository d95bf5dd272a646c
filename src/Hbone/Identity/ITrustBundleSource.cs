namespace Hbone.Identity;

/// <summary>The current trust bundle; read it per handshake so root rotation applies without restarts.</summary>
public interface ITrustBundleSource
{
    /// <summary>The bundle to validate peers with now.</summary>
    TrustBundle GetTrustBundle();

    /// <summary>Raised after the bundle was replaced.</summary>
    event EventHandler? Changed;
}
