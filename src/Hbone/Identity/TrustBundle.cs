using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Hbone.Identity;

/// <summary>The root certificates of one trust domain; several roots overlap during a CA rotation.</summary>
public sealed class TrustBundle
{
    private readonly X509Certificate2[] _roots;

    /// <summary>Creates a bundle for <paramref name="trustDomain"/>; an empty <paramref name="roots"/> rejects every SVID.</summary>
    /// <exception cref="SpiffeIdException"><paramref name="trustDomain"/> is not a valid trust domain name.</exception>
    public TrustBundle(string trustDomain, IEnumerable<X509Certificate2> roots)
    {
        ArgumentNullException.ThrowIfNull(trustDomain);
        ArgumentNullException.ThrowIfNull(roots);
        SpiffeIdError error = SpiffeIdParser.ValidateTrustDomain(trustDomain);
        if (error != SpiffeIdError.None)
        {
            throw SpiffeIdParser.CreateException(error, trustDomain);
        }

        TrustDomain = trustDomain;
        _roots = roots.ToArray();
    }

    /// <summary>The trust domain the roots vouch for, e.g. <c>cluster.local</c>.</summary>
    public string TrustDomain { get; }

    /// <summary>A copy of the roots; changing it does not change the bundle.</summary>
    public X509Certificate2Collection Roots => new(_roots);

    /// <summary>The roots without copying, for chain building.</summary>
    internal X509Certificate2[] RootArray => _roots;

    /// <summary>Reads a bundle from PEM holding one or more CERTIFICATE blocks.</summary>
    /// <exception cref="CertificateLoadException">The PEM is malformed or holds no certificate.</exception>
    public static TrustBundle FromPem(string trustDomain, string pem) => FromPem(trustDomain, pem, path: null);

    internal static TrustBundle FromPem(string trustDomain, string pem, string? path)
    {
        List<X509Certificate2> roots = PemReader.ReadCertificates(pem, path, "trust bundle");
        return new TrustBundle(trustDomain, roots);
    }

    /// <summary>Writes the roots as concatenated PEM CERTIFICATE blocks.</summary>
    public string ExportPem()
    {
        StringBuilder builder = new();
        foreach (X509Certificate2 root in _roots)
        {
            builder.Append(root.ExportCertificatePem()).Append('\n');
        }

        return builder.ToString();
    }
}
