namespace Hbone.Identity;

/// <summary>Thrown when a certificate, key or bundle cannot be loaded; <see cref="HboneException.Reason"/> is <see cref="HboneErrorReason.CertificateLoad"/>.</summary>
public sealed class CertificateLoadException : HboneException
{
    /// <summary>Creates an exception for <paramref name="error"/> on <paramref name="path"/> (null when loaded from memory).</summary>
    public CertificateLoadException(CertificateLoadError error, string? path, string message, Exception? innerException = null)
        : base(HboneErrorReason.CertificateLoad, message, innerException)
    {
        Error = error;
        Path = path;
    }

    /// <summary>What went wrong.</summary>
    public CertificateLoadError Error { get; }

    /// <summary>The file that failed, or null when the material came from memory.</summary>
    public string? Path { get; }

    /// <summary>Builds the exception with a one-line message naming the source and the problem.</summary>
    internal static CertificateLoadException Create(CertificateLoadError error, string? path, string what, Exception? inner = null)
    {
        string problem = error switch
        {
            CertificateLoadError.FileNotFound => "file not found",
            CertificateLoadError.MalformedPem => "malformed PEM",
            CertificateLoadError.NoCertificate => "no certificate in the PEM",
            CertificateLoadError.NoPrivateKey => "no private key in the PEM",
            CertificateLoadError.KeyMismatch => "key does not match certificate",
            CertificateLoadError.UnsupportedKey => "unsupported key (only unencrypted ECDSA or RSA keys are supported)",
            CertificateLoadError.Unreadable => "file cannot be read",
            CertificateLoadError.NotAnSvid => $"not an X.509-SVID ({inner?.Message})",
            _ => error.ToString(),
        };
        string source = path is null ? what : $"{what} '{path}'";
        return new CertificateLoadException(error, path, $"Cannot load {source}: {problem}.", inner);
    }
}
