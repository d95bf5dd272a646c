namespace Hbone.Identity;

/// <summary>Why a certificate is not an acceptable X.509-SVID (X.509-SVID specification, sections 4 and 5).</summary>
public enum SvidValidationError
{
    /// <summary>The SVID is valid.</summary>
    None,
    /// <summary>The leaf has no URI subject alternative name.</summary>
    NoUriSan,
    /// <summary>The leaf has more than one URI subject alternative name.</summary>
    MultipleUriSans,
    /// <summary>The URI SAN is not a SPIFFE ID, or it names only a trust domain.</summary>
    InvalidSpiffeId,
    /// <summary>The SPIFFE ID's trust domain is not the bundle's trust domain.</summary>
    TrustDomainMismatch,
    /// <summary>The leaf's basic constraints say it is a CA.</summary>
    LeafIsCa,
    /// <summary>The leaf's key usage includes keyCertSign or cRLSign.</summary>
    KeyCertSignOrCrlSign,
    /// <summary>The leaf's key usage lacks digitalSignature.</summary>
    MissingDigitalSignature,
    /// <summary>The leaf's key usage extension is not marked critical.</summary>
    KeyUsageNotCritical,
    /// <summary>The leaf has no key usage extension.</summary>
    MissingKeyUsage,
    /// <summary>The leaf's extended key usage lacks clientAuth (client peer) or serverAuth (server peer).</summary>
    WrongExtendedKeyUsage,
    /// <summary>The leaf or an intermediate has expired.</summary>
    Expired,
    /// <summary>The leaf is not valid yet.</summary>
    NotYetValid,
    /// <summary>The chain does not lead to a root of the trust bundle.</summary>
    UntrustedChain,
    /// <summary>The trust bundle has no roots, so nothing can be trusted.</summary>
    EmptyBundle,
    /// <summary>An extension of the leaf could not be decoded.</summary>
    MalformedExtension,
}
