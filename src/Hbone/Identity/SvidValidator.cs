using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;

namespace Hbone.Identity;

/// <summary>Validates a peer's X.509-SVID against a trust bundle: SPIFFE ID, key usages, then the chain.</summary>
/// <remarks>Thread-safe. The bundle delegate is read on every call so a rotated bundle applies to the next handshake.</remarks>
public sealed class SvidValidator
{
    private readonly Func<TrustBundle> _bundle;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates a validator that asks <paramref name="bundle"/> for the current bundle on every validation.</summary>
    public SvidValidator(Func<TrustBundle> bundle, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        _bundle = bundle;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Creates a validator for a fixed bundle.</summary>
    public SvidValidator(TrustBundle bundle, TimeProvider? timeProvider = null)
        : this(ConstantBundle(bundle), timeProvider)
    {
    }

    /// <summary>Validates <paramref name="leaf"/> presented by a peer in <paramref name="peerRole"/> and returns its SPIFFE ID.</summary>
    /// <param name="leaf">The peer's leaf certificate.</param>
    /// <param name="intermediates">Certificates the peer sent after the leaf, or null.</param>
    /// <param name="peerRole">Whether the peer is the TLS client or the TLS server.</param>
    /// <exception cref="SvidValidationException">The certificate is not acceptable; <see cref="SvidValidationException.Error"/> says why.</exception>
    public SpiffeId Validate(X509Certificate2 leaf, X509Certificate2Collection? intermediates, SvidRole peerRole)
    {
        SvidValidationError error = ValidateCore(leaf, intermediates, peerRole, out SpiffeId? id, out string? detail);
        if (id is null)
        {
            // SVIDs usually have an empty subject, so name the certificate by its serial number.
            throw new SvidValidationException(error, $"Certificate with serial {leaf.SerialNumber} rejected: {Describe(error)} ({error}){(detail is null ? "" : $": {detail}")}.");
        }

        return id;
    }

    /// <summary>Validates without throwing.</summary>
    /// <param name="leaf">The peer's leaf certificate.</param>
    /// <param name="intermediates">Certificates the peer sent after the leaf, or null.</param>
    /// <param name="peerRole">Whether the peer is the TLS client or the TLS server.</param>
    /// <param name="id">The peer's SPIFFE ID when valid.</param>
    /// <param name="error">Why the certificate was rejected, or <see cref="SvidValidationError.None"/>.</param>
    /// <returns>True when the certificate is a valid SVID of the bundle's trust domain.</returns>
    public bool TryValidate(X509Certificate2 leaf, X509Certificate2Collection? intermediates, SvidRole peerRole, [NotNullWhen(true)] out SpiffeId? id, out SvidValidationError error)
    {
        error = ValidateCore(leaf, intermediates, peerRole, out id, out _);
        return id is not null;
    }

    private SvidValidationError ValidateCore(X509Certificate2 leaf, X509Certificate2Collection? intermediates, SvidRole peerRole, out SpiffeId? id, out string? detail)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        id = null;
        detail = null;
        TrustBundle bundle = _bundle();
        if (bundle.RootArray.Length == 0)
        {
            detail = $"trust domain '{bundle.TrustDomain}'";
            return SvidValidationError.EmptyBundle;
        }

        // Cheap DER checks first: a bad SVID is rejected without building a chain.
        SvidValidationError error = SvidExtensionReader.ReadSpiffeId(leaf, out SpiffeId? candidate, out string? uri);
        if (candidate is null)
        {
            detail = uri is null ? null : $"URI SAN '{uri}'";
            return error;
        }

        if (!candidate.IsMemberOf(bundle.TrustDomain))
        {
            detail = $"'{candidate}' is not in trust domain '{bundle.TrustDomain}'";
            return SvidValidationError.TrustDomainMismatch;
        }

        error = SvidExtensionReader.CheckLeafUsage(leaf, peerRole);
        if (error != SvidValidationError.None)
        {
            return error;
        }

        DateTimeOffset now = _timeProvider.GetUtcNow();
        error = CheckLeafTime(leaf, now, out detail);
        if (error != SvidValidationError.None)
        {
            return error;
        }

        error = SvidChainVerifier.Verify(leaf, intermediates, bundle.RootArray, now, out detail);
        if (error == SvidValidationError.None)
        {
            id = candidate;
        }

        return error;
    }

    private static SvidValidationError CheckLeafTime(X509Certificate2 leaf, DateTimeOffset now, out string? detail)
    {
        DateTime utcNow = now.UtcDateTime;
        DateTime notAfter = leaf.NotAfter.ToUniversalTime();
        DateTime notBefore = leaf.NotBefore.ToUniversalTime();
        detail = null;
        if (utcNow > notAfter)
        {
            detail = $"leaf expired at {notAfter:u}";
            return SvidValidationError.Expired;
        }

        if (utcNow < notBefore)
        {
            detail = $"leaf valid from {notBefore:u}";
            return SvidValidationError.NotYetValid;
        }

        return SvidValidationError.None;
    }

    private static Func<TrustBundle> ConstantBundle(TrustBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        return () => bundle;
    }

    /// <summary>A short description of <paramref name="error"/> for messages.</summary>
    internal static string Describe(SvidValidationError error) => error switch
    {
        SvidValidationError.NoUriSan => "no URI subject alternative name",
        SvidValidationError.MultipleUriSans => "more than one URI subject alternative name",
        SvidValidationError.InvalidSpiffeId => "the URI SAN is not a workload SPIFFE ID",
        SvidValidationError.TrustDomainMismatch => "trust domain mismatch",
        SvidValidationError.LeafIsCa => "the leaf is a CA (basicConstraints cA=true)",
        SvidValidationError.KeyCertSignOrCrlSign => "the leaf's key usage includes keyCertSign or cRLSign",
        SvidValidationError.MissingDigitalSignature => "the leaf's key usage lacks digitalSignature",
        SvidValidationError.KeyUsageNotCritical => "the key usage extension is not critical",
        SvidValidationError.MissingKeyUsage => "no key usage extension",
        SvidValidationError.WrongExtendedKeyUsage => "the extended key usage does not allow this peer role",
        SvidValidationError.Expired => "certificate expired",
        SvidValidationError.NotYetValid => "certificate not yet valid",
        SvidValidationError.UntrustedChain => "the chain does not lead to a root of the trust bundle",
        SvidValidationError.EmptyBundle => "the trust bundle has no roots",
        SvidValidationError.MalformedExtension => "an extension could not be decoded",
        _ => error.ToString(),
    };
}
