namespace Hbone.Identity;

/// <summary>An SVID and trust bundle held in memory and replaced by the caller (tests, dev CA, a CA client).</summary>
public sealed class InMemoryCertificateSource : ISvidSource, ITrustBundleSource
{
    private volatile Svid _svid;
    private volatile TrustBundle _bundle;

    /// <summary>Starts with <paramref name="svid"/> and <paramref name="bundle"/>.</summary>
    public InMemoryCertificateSource(Svid svid, TrustBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(svid);
        ArgumentNullException.ThrowIfNull(bundle);
        _svid = svid;
        _bundle = bundle;
    }

    /// <summary>Raised after <see cref="Update"/> or <see cref="UpdateTrustBundle"/>.</summary>
    public event EventHandler? Changed;

    /// <inheritdoc />
    public Svid GetSvid() => _svid;

    /// <inheritdoc />
    public TrustBundle GetTrustBundle() => _bundle;

    /// <summary>Replaces the SVID; the previous one is not disposed because a handshake may still be using it.</summary>
    public void Update(Svid svid)
    {
        ArgumentNullException.ThrowIfNull(svid);
        _svid = svid;
        Changed?.Invoke(this, EventArgs.Empty);
    }

    /// <summary>Replaces the trust bundle.</summary>
    public void UpdateTrustBundle(TrustBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        _bundle = bundle;
        Changed?.Invoke(this, EventArgs.Empty);
    }
}
