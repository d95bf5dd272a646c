using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Hbone.Identity;

/// <summary>Reads the X.509-SVID extensions straight from their DER with <see cref="AsnDecoder"/>, so a handshake allocates only the ID string.</summary>
internal static class SvidExtensionReader
{
    private const string SubjectAltNameOid = "2.5.29.17";
    private const string BasicConstraintsOid = "2.5.29.19";
    private const string KeyUsageOid = "2.5.29.15";
    private const string ExtendedKeyUsageOid = "2.5.29.37";

    // DER contents of id-kp-serverAuth (1.3.6.1.5.5.7.3.1) and id-kp-clientAuth (1.3.6.1.5.5.7.3.2).
    private static ReadOnlySpan<byte> ServerAuth => [0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
    private static ReadOnlySpan<byte> ClientAuth => [0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    /// <summary>Finds the single URI SAN and parses it as a workload SPIFFE ID.</summary>
    internal static SvidValidationError ReadSpiffeId(X509Certificate2 certificate, out SpiffeId? id, out string? uri)
    {
        id = null;
        SvidValidationError error = ReadSingleUri(certificate, out uri);
        if (error != SvidValidationError.None)
        {
            return error;
        }

        // A trust-domain-only ID names no workload, so it cannot be an SVID.
        if (!SpiffeId.TryParse(uri, out id, out _) || id.IsTrustDomainOnly)
        {
            id = null;
            return SvidValidationError.InvalidSpiffeId;
        }

        return SvidValidationError.None;
    }

    /// <summary>Reads the one URI GeneralName (context tag 6) of the SubjectAltName extension.</summary>
    internal static SvidValidationError ReadSingleUri(X509Certificate2 certificate, out string? uri)
    {
        uri = null;
        X509Extension? san = Find(certificate, SubjectAltNameOid);
        if (san is null)
        {
            return SvidValidationError.NoUriSan;
        }

        try
        {
            ReadOnlySpan<byte> names = ReadSequenceContent(san.RawData);
            ReadOnlySpan<byte> uriBytes = default;
            int uriCount = 0;
            while (!names.IsEmpty)
            {
                Asn1Tag tag = Asn1Tag.Decode(names, out _);
                AsnDecoder.ReadEncodedValue(names, AsnEncodingRules.DER, out int offset, out int length, out int consumed);
                if (tag.HasSameClassAndValue(UriTag) && !tag.IsConstructed)
                {
                    uriCount++;
                    uriBytes = names.Slice(offset, length);
                }

                names = names[consumed..];
            }

            if (uriCount == 0)
            {
                return SvidValidationError.NoUriSan;
            }

            // ztunnel would take the first of several; the X.509-SVID spec allows exactly one.
            if (uriCount > 1)
            {
                return SvidValidationError.MultipleUriSans;
            }

            if (!Ascii.IsValid(uriBytes))
            {
                return SvidValidationError.InvalidSpiffeId;
            }

            uri = Encoding.ASCII.GetString(uriBytes);
            return SvidValidationError.None;
        }
        catch (AsnContentException)
        {
            return SvidValidationError.MalformedExtension;
        }
    }

    /// <summary>Checks basic constraints, key usage and extended key usage of a leaf SVID.</summary>
    internal static SvidValidationError CheckLeafUsage(X509Certificate2 certificate, SvidRole peerRole)
    {
        try
        {
            X509Extension? basicConstraints = Find(certificate, BasicConstraintsOid);
            if (basicConstraints is not null && IsCa(basicConstraints.RawData))
            {
                return SvidValidationError.LeafIsCa;
            }

            X509Extension? keyUsage = Find(certificate, KeyUsageOid);
            if (keyUsage is null)
            {
                return SvidValidationError.MissingKeyUsage;
            }

            if (!keyUsage.Critical)
            {
                return SvidValidationError.KeyUsageNotCritical;
            }

            SvidValidationError usage = CheckKeyUsageBits(keyUsage.RawData);
            if (usage != SvidValidationError.None)
            {
                return usage;
            }

            X509Extension? extendedKeyUsage = Find(certificate, ExtendedKeyUsageOid);
            if (extendedKeyUsage is not null && !HasPurpose(extendedKeyUsage.RawData, peerRole == SvidRole.Client ? ClientAuth : ServerAuth))
            {
                return SvidValidationError.WrongExtendedKeyUsage;
            }

            return SvidValidationError.None;
        }
        catch (AsnContentException)
        {
            return SvidValidationError.MalformedExtension;
        }
    }

    private static X509Extension? Find(X509Certificate2 certificate, string oid)
    {
        // Indexed loop: the collection is cached by the certificate, its enumerator would allocate.
        X509ExtensionCollection extensions = certificate.Extensions;
        for (int i = 0; i < extensions.Count; i++)
        {
            X509Extension extension = extensions[i];
            if (string.Equals(extension.Oid?.Value, oid, StringComparison.Ordinal))
            {
                return extension;
            }
        }

        return null;
    }

    private static ReadOnlySpan<byte> ReadSequenceContent(ReadOnlySpan<byte> der)
    {
        AsnDecoder.ReadSequence(der, AsnEncodingRules.DER, out int offset, out int length, out _);
        return der.Slice(offset, length);
    }

    private static bool IsCa(ReadOnlySpan<byte> der)
    {
        // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
        ReadOnlySpan<byte> content = ReadSequenceContent(der);
        return !content.IsEmpty
            && Asn1Tag.Decode(content, out _).HasSameClassAndValue(Asn1Tag.Boolean)
            && AsnDecoder.ReadBoolean(content, AsnEncodingRules.DER, out _);
    }

    private static SvidValidationError CheckKeyUsageBits(ReadOnlySpan<byte> der)
    {
        // KeyUsage is a named BIT STRING: bit 0 digitalSignature, bit 5 keyCertSign, bit 6 cRLSign.
        if (!AsnDecoder.TryReadPrimitiveBitString(der, AsnEncodingRules.DER, out _, out ReadOnlySpan<byte> bits, out _))
        {
            return SvidValidationError.MalformedExtension;
        }

        byte first = bits.IsEmpty ? (byte)0 : bits[0];
        if ((first & 0x06) != 0)
        {
            return SvidValidationError.KeyCertSignOrCrlSign;
        }

        return (first & 0x80) == 0 ? SvidValidationError.MissingDigitalSignature : SvidValidationError.None;
    }

    private static bool HasPurpose(ReadOnlySpan<byte> der, ReadOnlySpan<byte> purpose)
    {
        // ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId; compare encoded OIDs to avoid string allocations.
        ReadOnlySpan<byte> content = ReadSequenceContent(der);
        while (!content.IsEmpty)
        {
            Asn1Tag tag = Asn1Tag.Decode(content, out _);
            AsnDecoder.ReadEncodedValue(content, AsnEncodingRules.DER, out int offset, out int length, out int consumed);
            if (tag.HasSameClassAndValue(Asn1Tag.ObjectIdentifier) && content.Slice(offset, length).SequenceEqual(purpose))
            {
                return true;
            }

            content = content[consumed..];
        }

        return false;
    }
}
