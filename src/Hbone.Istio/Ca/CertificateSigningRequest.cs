using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Istio.Ca;

/// <summary>Builds the PKCS#10 request Istio's CA expects: empty subject, one critical URI SAN, SHA-256.</summary>
internal static class CertificateSigningRequest
{
    private const string SubjectAltNameOid = "2.5.29.17";

    public static string CreatePem(ECDsa key, SpiffeId identity)
    {
        CertificateRequest request = new(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);

        // RFC 5280: with an empty subject the SAN extension must be critical.
        request.CertificateExtensions.Add(new X509Extension(SubjectAltNameOid, EncodeUriSan(identity.ToString()), critical: true));
        return request.CreateSigningRequestPem();
    }

    // Written verbatim: SubjectAlternativeNameBuilder passes the ID through System.Uri, which may rewrite it.
    private static byte[] EncodeUriSan(string uri)
    {
        AsnWriter writer = new(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
        }

        return writer.Encode();
    }
}
