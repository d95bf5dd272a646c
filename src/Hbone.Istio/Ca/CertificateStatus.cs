namespace Hbone.Istio.Ca;

/// <summary>One identity's certificate as ztunnel's <c>/config_dump</c> shows it under <c>certificates</c>.</summary>
public sealed class CertificateStatus
{
    /// <summary>Creates a status entry.</summary>
    public CertificateStatus(string identity, string state, string? lastError, IReadOnlyList<CertificateDetails> certChain, IReadOnlyList<CertificateDetails> rootCerts)
    {
        Identity = identity;
        State = state;
        LastError = lastError;
        CertChain = certChain;
        RootCerts = rootCerts;
    }

    /// <summary>The SPIFFE ID.</summary>
    public string Identity { get; }

    /// <summary><c>Initializing</c> (first fetch running), <c>Available</c> (a valid certificate), or <c>Unavailable</c> (fetches fail and no valid certificate).</summary>
    public string State { get; }

    /// <summary>The last fetch error, or null when the last fetch succeeded.</summary>
    public string? LastError { get; }

    /// <summary>The current leaf then its intermediates (named as ztunnel's <c>certChain</c>); empty before the first certificate.</summary>
    public IReadOnlyList<CertificateDetails> CertChain { get; }

    /// <summary>The roots returned with the current certificate (ztunnel's <c>rootCerts</c>).</summary>
    public IReadOnlyList<CertificateDetails> RootCerts { get; }
}
