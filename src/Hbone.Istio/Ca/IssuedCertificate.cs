using Hbone.Identity;

namespace Hbone.Istio.Ca;

/// <summary>A certificate issued by the CA: the SVID to present, the roots it chains to, and both as PEM for dumps.</summary>
public sealed class IssuedCertificate
{
    /// <summary>Wraps an issued SVID and the roots returned with it.</summary>
    public IssuedCertificate(Svid svid, TrustBundle roots)
    {
        ArgumentNullException.ThrowIfNull(svid);
        ArgumentNullException.ThrowIfNull(roots);
        Svid = svid;
        Roots = roots;
        CertificateChainPem = svid.ExportCertificateChainPem();
        RootCertificatesPem = roots.ExportPem();
    }

    /// <summary>The leaf with its private key, and the intermediates to send with it.</summary>
    public Svid Svid { get; }

    /// <summary>The roots from the last element of the CA's chain, for the identity's trust domain.</summary>
    public TrustBundle Roots { get; }

    /// <summary>The leaf then the intermediates, as PEM.</summary>
    public string CertificateChainPem { get; }

    /// <summary>The root certificates, as PEM.</summary>
    public string RootCertificatesPem { get; }
}
