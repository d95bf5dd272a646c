using System.Globalization;
using System.Security.Cryptography.X509Certificates;

namespace Hbone.Istio.Ca;

/// <summary>One certificate in a <see cref="CertificateStatus"/>.</summary>
public sealed class CertificateDetails
{
    /// <summary>Creates the details.</summary>
    public CertificateDetails(string pem, string serialNumber, string validFrom, string expirationTime)
    {
        Pem = pem;
        SerialNumber = serialNumber;
        ValidFrom = validFrom;
        ExpirationTime = expirationTime;
    }

    /// <summary>The certificate as PEM.</summary>
    public string Pem { get; }

    /// <summary>The serial number in hex, as <see cref="X509Certificate2.SerialNumber"/> gives it.</summary>
    public string SerialNumber { get; }

    /// <summary>Start of validity, ISO-8601 UTC (e.g. <c>2026-01-02T03:04:05Z</c>).</summary>
    public string ValidFrom { get; }

    /// <summary>End of validity, ISO-8601 UTC.</summary>
    public string ExpirationTime { get; }

    /// <summary>Describes <paramref name="certificate"/>.</summary>
    public static CertificateDetails From(X509Certificate2 certificate) => new(
        certificate.ExportCertificatePem() + "\n",
        certificate.SerialNumber,
        certificate.NotBefore.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        certificate.NotAfter.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
}
