using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DevControlPlane.Ca;

/// <summary>Reads the URI SAN a CSR asks for (the identity, when the caller does not impersonate one of its pods).</summary>
internal static class CsrIdentity
{
    private static readonly Asn1Tag UriName = new(TagClass.ContextSpecific, 6);

    /// <returns>The first URI SAN, or null when the CSR has none.</returns>
    /// <exception cref="CryptographicException">The CSR cannot be read or its signature does not verify.</exception>
    public static string? ReadUriSan(string csrPem)
    {
        // Extensions are only read (never copied to the certificate), so loading them is safe; the signature is still verified.
        CertificateRequest csr = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        foreach (X509Extension extension in csr.CertificateExtensions)
        {
            if (extension.Oid?.Value != "2.5.29.17")
            {
                continue;
            }

            try
            {
                AsnReader names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
                while (names.HasData)
                {
                    if (names.PeekTag() == UriName)
                    {
                        return names.ReadCharacterString(UniversalTagNumber.IA5String, UriName);
                    }

                    names.ReadEncodedValue();
                }
            }
            catch (AsnContentException e)
            {
                throw new CryptographicException("the subjectAltName extension is malformed", e);
            }
        }

        return null;
    }
}
