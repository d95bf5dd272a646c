using System.Diagnostics.CodeAnalysis;

namespace Hbone.Identity;

/// <summary>A SPIFFE ID <c>spiffe://&lt;trust-domain&gt;&lt;path&gt;</c>, validated against the SPIFFE ID specification.</summary>
/// <remarks>The grammar admits one spelling per ID, so equality is ordinal comparison of the whole string.</remarks>
public sealed class SpiffeId : IEquatable<SpiffeId>
{
    private readonly string _value;

    private SpiffeId(string value, int trustDomainEnd)
    {
        _value = value;
        TrustDomain = value[SpiffeIdParser.Scheme.Length..trustDomainEnd];
        Path = trustDomainEnd == value.Length ? string.Empty : value[trustDomainEnd..];
    }

    /// <summary>The trust domain, lowercase, e.g. <c>cluster.local</c>.</summary>
    public string TrustDomain { get; }

    /// <summary>The path: empty, or starting with <c>/</c> such as <c>/ns/default/sa/echo</c>.</summary>
    public string Path { get; }

    /// <summary>True when the ID has no path (<c>spiffe://td</c>): it names the trust domain, not a workload.</summary>
    public bool IsTrustDomainOnly => Path.Length == 0;

    /// <summary>Parses <paramref name="value"/>; throws <see cref="SpiffeIdException"/> naming the broken rule.</summary>
    public static SpiffeId Parse(string value)
    {
        if (!TryParse(value, out SpiffeId? id, out SpiffeIdError error))
        {
            throw SpiffeIdParser.CreateException(error, value);
        }

        return id;
    }

    /// <summary>Parses <paramref name="value"/> without throwing.</summary>
    /// <param name="value">The candidate ID.</param>
    /// <param name="id">The parsed ID when valid.</param>
    /// <param name="error">Why the value is invalid, or <see cref="SpiffeIdError.None"/>.</param>
    /// <returns>True when <paramref name="value"/> is a valid SPIFFE ID.</returns>
    public static bool TryParse(string? value, [NotNullWhen(true)] out SpiffeId? id, out SpiffeIdError error)
    {
        error = SpiffeIdParser.Validate(value, out int trustDomainEnd);
        id = error == SpiffeIdError.None ? new SpiffeId(value!, trustDomainEnd) : null;
        return id is not null;
    }

    /// <summary>The Istio workload ID <c>spiffe://&lt;trustDomain&gt;/ns/&lt;ns&gt;/sa/&lt;serviceAccount&gt;</c>.</summary>
    /// <exception cref="SpiffeIdException">A component breaks the SPIFFE grammar or is not a single segment.</exception>
    public static SpiffeId ForIstio(string trustDomain, string ns, string serviceAccount)
    {
        ArgumentNullException.ThrowIfNull(trustDomain);
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentNullException.ThrowIfNull(serviceAccount);
        string value = $"spiffe://{trustDomain}/ns/{ns}/sa/{serviceAccount}";

        // A '/' inside a component would still parse but would no longer be an Istio identity.
        if (ns.Length == 0 || serviceAccount.Length == 0 || ns.Contains('/') || serviceAccount.Contains('/'))
        {
            throw SpiffeIdParser.CreateException(SpiffeIdError.InvalidIstioComponent, value);
        }

        return Parse(value);
    }

    /// <summary>Reads the Istio view when the path is exactly <c>/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>.</summary>
    /// <param name="identity">The namespace and service account when this is an Istio ID.</param>
    /// <returns>True when this is an Istio workload ID.</returns>
    public bool TryGetIstioIdentity(out IstioIdentity identity)
    {
        identity = default;
        ReadOnlySpan<char> path = Path;
        if (!path.StartsWith("/ns/", StringComparison.Ordinal))
        {
            return false;
        }

        ReadOnlySpan<char> afterNs = path[4..];
        int nsEnd = afterNs.IndexOf('/');
        if (nsEnd <= 0 || !afterNs[nsEnd..].StartsWith("/sa/", StringComparison.Ordinal))
        {
            return false;
        }

        ReadOnlySpan<char> serviceAccount = afterNs[(nsEnd + 4)..];
        if (serviceAccount.IsEmpty || serviceAccount.Contains('/'))
        {
            return false;
        }

        identity = new IstioIdentity(TrustDomain, afterNs[..nsEnd].ToString(), serviceAccount.ToString());
        return true;
    }

    /// <summary>True when this ID belongs to <paramref name="trustDomain"/> (ordinal, trust domains are lowercase).</summary>
    public bool IsMemberOf(string trustDomain) => string.Equals(TrustDomain, trustDomain, StringComparison.Ordinal);

    /// <summary>The ID as <c>spiffe://td/path</c>; returns the stored string without allocating.</summary>
    public override string ToString() => _value;

    /// <inheritdoc />
    public bool Equals(SpiffeId? other) => other is not null && string.Equals(_value, other._value, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as SpiffeId);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_value);

    /// <summary>Ordinal equality of two IDs (null-safe).</summary>
    public static bool operator ==(SpiffeId? left, SpiffeId? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Ordinal inequality of two IDs (null-safe).</summary>
    public static bool operator !=(SpiffeId? left, SpiffeId? right) => !(left == right);
}
