namespace Hbone.Identity;

/// <summary>Why certificate material could not be loaded.</summary>
public enum CertificateLoadError
{
    /// <summary>The file does not exist.</summary>
    FileNotFound,
    /// <summary>The text is not well-formed PEM, or a block does not decode.</summary>
    MalformedPem,
    /// <summary>The PEM holds no CERTIFICATE block.</summary>
    NoCertificate,
    /// <summary>The PEM holds no private key block.</summary>
    NoPrivateKey,
    /// <summary>The private key does not match the certificate's public key.</summary>
    KeyMismatch,
    /// <summary>The key is encrypted or of an algorithm other than ECDSA or RSA.</summary>
    UnsupportedKey,
    /// <summary>The file exists but could not be read (permissions, I/O error).</summary>
    Unreadable,
    /// <summary>The certificate loaded but is not an X.509-SVID (no single workload SPIFFE ID in its URI SAN).</summary>
    NotAnSvid,
}
