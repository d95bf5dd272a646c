using System.Security.Cryptography.X509Certificates;

namespace Hbone.Ztunnel.Admin;

/// <summary>One identity's certificate as <c>/config_dump</c> shows it (ztunnel's <c>certificates</c> entries).</summary>
/// <param name="Identity">The SPIFFE ID.</param>
/// <param name="State"><c>Available</c>, <c>Initializing</c>, or <c>Unavailable: reason</c>.</param>
/// <param name="CertChain">The leaf then its intermediates, when available.</param>
/// <param name="RootCerts">The roots peers are checked against.</param>
public sealed record CertificateInfo(string Identity, string State, IReadOnlyList<CertificateDetail> CertChain, IReadOnlyList<CertificateDetail> RootCerts);

/// <summary>One certificate of a chain (ztunnel's <c>CertDump</c>).</summary>
/// <param name="Pem">The certificate as PEM.</param>
/// <param name="SerialNumber">The serial number, hex.</param>
/// <param name="ValidFrom">Start of validity (RFC 3339).</param>
/// <param name="ExpirationTime">End of validity (RFC 3339).</param>
public sealed record CertificateDetail(string Pem, string SerialNumber, string ValidFrom, string ExpirationTime)
{
    /// <summary>Describes <paramref name="certificate"/>.</summary>
    public static CertificateDetail Of(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new CertificateDetail(
            certificate.ExportCertificatePem() + "\n",
            certificate.SerialNumber,
            certificate.NotBefore.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            certificate.NotAfter.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
    }
}
