namespace Hbone.Istio;

/// <summary>Why talking to the Istio control plane failed.</summary>
public enum IstioErrorReason
{
    /// <summary>The bearer token file is missing, unreadable or empty.</summary>
    TokenUnavailable,
    /// <summary>The root certificate that the control plane's TLS must chain to cannot be read.</summary>
    RootCertificateUnavailable,
    /// <summary>The control plane could not be reached, or the call failed (the gRPC status is in the inner exception).</summary>
    ControlPlaneUnavailable,
    /// <summary>The CA answered with no certificate, or with PEM that does not parse.</summary>
    InvalidCertificateResponse,
    /// <summary>The issued leaf does not chain to the root at the end of the returned chain.</summary>
    UntrustedCertificateChain,
    /// <summary>The issued leaf does not carry the identity that was asked for.</summary>
    IdentityMismatch,
    /// <summary>The certificate for an identity is not available (not fetched yet, or every fetch failed).</summary>
    CertificateUnavailable,
    /// <summary>An option has a value that cannot work.</summary>
    InvalidOptions,
}
