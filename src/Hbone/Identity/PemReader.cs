using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hbone.Identity;

/// <summary>Strict PEM reading: a truncated or corrupt block fails the load instead of being skipped silently.</summary>
internal static class PemReader
{
    private const string EcOid = "1.2.840.10045.2.1";
    private const string RsaOid = "1.2.840.113549.1.1.1";
    private const string BeginMarker = "-----BEGIN ";

    /// <summary>Reads every CERTIFICATE block; at least one is required.</summary>
    internal static List<X509Certificate2> ReadCertificates(string pem, string? path, string what)
    {
        ArgumentNullException.ThrowIfNull(pem);
        List<X509Certificate2> certificates = [];
        foreach ((string label, byte[] der) in ReadBlocks(pem, path, what))
        {
            if (label != "CERTIFICATE")
            {
                continue;
            }

            try
            {
                certificates.Add(X509CertificateLoader.LoadCertificate(der));
            }
            catch (CryptographicException ex)
            {
                throw CertificateLoadException.Create(CertificateLoadError.MalformedPem, path, what, ex);
            }
        }

        if (certificates.Count == 0)
        {
            throw CertificateLoadException.Create(CertificateLoadError.NoCertificate, path, what);
        }

        return certificates;
    }

    /// <summary>Reads the first private key block and attaches it to <paramref name="certificate"/>.</summary>
    internal static X509Certificate2 AttachPrivateKey(X509Certificate2 certificate, string keyPem, string? path, string what)
    {
        ArgumentNullException.ThrowIfNull(keyPem);
        foreach ((string label, byte[] der) in ReadBlocks(keyPem, path, what))
        {
            if (label is "PRIVATE KEY" or "EC PRIVATE KEY" or "RSA PRIVATE KEY" or "ENCRYPTED PRIVATE KEY")
            {
                return Attach(certificate, label, der, path, what);
            }
        }

        throw CertificateLoadException.Create(CertificateLoadError.NoPrivateKey, path, what);
    }

    private static X509Certificate2 Attach(X509Certificate2 certificate, string label, byte[] der, string? path, string what)
    {
        string? keyAlgorithm = label switch
        {
            "EC PRIVATE KEY" => EcOid,
            "RSA PRIVATE KEY" => RsaOid,
            "PRIVATE KEY" => ReadPkcs8Algorithm(der, path, what),
            _ => null,
        };
        if (keyAlgorithm is not (EcOid or RsaOid))
        {
            throw CertificateLoadException.Create(CertificateLoadError.UnsupportedKey, path, what);
        }

        string certificateAlgorithm = certificate.GetKeyAlgorithm();
        if (certificateAlgorithm is not (EcOid or RsaOid))
        {
            throw CertificateLoadException.Create(CertificateLoadError.UnsupportedKey, path, what);
        }

        if (keyAlgorithm != certificateAlgorithm)
        {
            throw CertificateLoadException.Create(CertificateLoadError.KeyMismatch, path, what);
        }

        try
        {
            if (keyAlgorithm == EcOid)
            {
                using ECDsa ecdsa = ECDsa.Create();
                if (label == "PRIVATE KEY")
                {
                    ecdsa.ImportPkcs8PrivateKey(der, out _);
                }
                else
                {
                    ecdsa.ImportECPrivateKey(der, out _);
                }

                return certificate.CopyWithPrivateKey(ecdsa);
            }

            using RSA rsa = RSA.Create();
            if (label == "PRIVATE KEY")
            {
                rsa.ImportPkcs8PrivateKey(der, out _);
            }
            else
            {
                rsa.ImportRSAPrivateKey(der, out _);
            }

            return certificate.CopyWithPrivateKey(rsa);
        }
        catch (CryptographicException ex)
        {
            throw CertificateLoadException.Create(CertificateLoadError.MalformedPem, path, what, ex);
        }
        catch (ArgumentException ex)
        {
            // CopyWithPrivateKey throws ArgumentException when the key's public half differs from the certificate's.
            throw CertificateLoadException.Create(CertificateLoadError.KeyMismatch, path, what, ex);
        }
    }

    private static string ReadPkcs8Algorithm(byte[] der, string? path, string what)
    {
        // PrivateKeyInfo ::= SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier, privateKey OCTET STRING, ... }
        try
        {
            AsnReader info = new AsnReader(der, AsnEncodingRules.BER).ReadSequence();
            _ = info.ReadIntegerBytes();
            return info.ReadSequence().ReadObjectIdentifier();
        }
        catch (AsnContentException ex)
        {
            throw CertificateLoadException.Create(CertificateLoadError.MalformedPem, path, what, ex);
        }
    }

    private static List<(string Label, byte[] Der)> ReadBlocks(string pem, string? path, string what)
    {
        List<(string, byte[])> blocks = [];
        ReadOnlySpan<char> rest = pem;
        while (PemEncoding.TryFind(rest, out PemFields fields))
        {
            byte[] der = new byte[fields.DecodedDataLength];
            if (!Convert.TryFromBase64Chars(rest[fields.Base64Data], der, out int written) || written != der.Length)
            {
                throw CertificateLoadException.Create(CertificateLoadError.MalformedPem, path, what);
            }

            blocks.Add((rest[fields.Label].ToString(), der));
            rest = rest[fields.Location.End..];
        }

        // PemEncoding.TryFind skips broken blocks; a BEGIN line it did not accept means the file is corrupt or truncated.
        if (CountOccurrences(pem, BeginMarker) != blocks.Count || (blocks.Count == 0 && !string.IsNullOrWhiteSpace(pem)))
        {
            throw CertificateLoadException.Create(CertificateLoadError.MalformedPem, path, what);
        }

        return blocks;
    }

    private static int CountOccurrences(string text, string marker)
    {
        int count = 0;
        for (int i = text.IndexOf(marker, StringComparison.Ordinal); i >= 0; i = text.IndexOf(marker, i + marker.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
