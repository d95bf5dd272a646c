using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Hbone.Identity;

/// <summary>A workload's own X.509-SVID: the leaf with its private key, plus the intermediates to send with it.</summary>
public sealed class Svid : IDisposable
{
    /// <summary>Wraps <paramref name="certificate"/> (which must carry its private key) and reads its SPIFFE ID.</summary>
    /// <exception cref="CertificateLoadException">The certificate has no private key (<see cref="CertificateLoadError.NoPrivateKey"/>).</exception>
    /// <exception cref="SvidValidationException">The certificate has no single, valid workload SPIFFE ID.</exception>
    public Svid(X509Certificate2 certificate, X509Certificate2Collection? intermediates = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
        {
            throw CertificateLoadException.Create(CertificateLoadError.NoPrivateKey, null, $"SVID '{certificate.Subject}'");
        }

        SvidValidationError error = SvidExtensionReader.ReadSpiffeId(certificate, out SpiffeId? id, out string? uri);
        if (id is null)
        {
            throw new SvidValidationException(error, $"Certificate with serial {certificate.SerialNumber} is not an SVID: {SvidValidator.Describe(error)} ({error}){(uri is null ? "" : $", URI SAN '{uri}'")}.");
        }

        Id = id;
        Certificate = certificate;
        Intermediates = intermediates ?? [];
    }

    /// <summary>The SPIFFE ID from the certificate's URI SAN.</summary>
    public SpiffeId Id { get; }

    /// <summary>The leaf certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Intermediates between the leaf and the root (empty when the root signed the leaf).</summary>
    public X509Certificate2Collection Intermediates { get; }

    /// <summary>Start of the leaf's validity.</summary>
    public DateTimeOffset NotBefore => new(Certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);

    /// <summary>End of the leaf's validity.</summary>
    public DateTimeOffset NotAfter => new(Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);

    /// <summary>The leaf then the intermediates, as PEM CERTIFICATE blocks.</summary>
    public string ExportCertificateChainPem()
    {
        StringBuilder builder = new();
        builder.Append(Certificate.ExportCertificatePem()).Append('\n');
        foreach (X509Certificate2 intermediate in Intermediates)
        {
            builder.Append(intermediate.ExportCertificatePem()).Append('\n');
        }

        return builder.ToString();
    }

    /// <summary>The private key as an unencrypted PKCS#8 <c>PRIVATE KEY</c> PEM block.</summary>
    public string ExportPrivateKeyPem()
    {
        using ECDsa? ecdsa = Certificate.GetECDsaPrivateKey();
        if (ecdsa is not null)
        {
            return ecdsa.ExportPkcs8PrivateKeyPem() + "\n";
        }

        using RSA? rsa = Certificate.GetRSAPrivateKey();
        if (rsa is not null)
        {
            return rsa.ExportPkcs8PrivateKeyPem() + "\n";
        }

        throw CertificateLoadException.Create(CertificateLoadError.UnsupportedKey, null, $"SVID '{Id}'");
    }

    /// <summary>Reads an SVID from a PEM chain (leaf first) and a PEM private key.</summary>
    /// <exception cref="CertificateLoadException">Malformed PEM, no certificate, no key, key does not match, or unsupported key.</exception>
    /// <exception cref="SvidValidationException">The leaf has no single, valid workload SPIFFE ID.</exception>
    public static Svid FromPem(string certificateChainPem, string privateKeyPem) =>
        FromPem(certificateChainPem, privateKeyPem, certificatePath: null, privateKeyPath: null);

    internal static Svid FromPem(string certificateChainPem, string privateKeyPem, string? certificatePath, string? privateKeyPath)
    {
        List<X509Certificate2> chain = PemReader.ReadCertificates(certificateChainPem, certificatePath, "certificate");
        X509Certificate2 withKey;
        try
        {
            withKey = PemReader.AttachPrivateKey(chain[0], privateKeyPem, privateKeyPath, "private key");
        }
        catch
        {
            DisposeAll(chain);
            throw;
        }

        chain[0].Dispose();
        X509Certificate2Collection intermediates = [];
        for (int i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }

        try
        {
            return new Svid(withKey, intermediates);
        }
        catch
        {
            withKey.Dispose();
            DisposeAll(intermediates);
            throw;
        }
    }

    /// <summary>Disposes the leaf and the intermediates.</summary>
    public void Dispose()
    {
        Certificate.Dispose();
        DisposeAll(Intermediates);
    }

    /// <inheritdoc />
    public override string ToString() => $"SVID {Id} (valid {NotBefore:u} to {NotAfter:u})";

    private static void DisposeAll(IEnumerable<X509Certificate2> certificates)
    {
        foreach (X509Certificate2 certificate in certificates)
        {
            certificate.Dispose();
        }
    }
}
