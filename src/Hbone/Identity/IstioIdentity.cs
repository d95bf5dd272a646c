namespace Hbone.Identity;

/// <summary>The Istio view of a SPIFFE ID <c>spiffe://&lt;td&gt;/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>.</summary>
/// <param name="TrustDomain">The trust domain, e.g. <c>cluster.local</c>.</param>
/// <param name="Namespace">The Kubernetes namespace.</param>
/// <param name="ServiceAccount">The Kubernetes service account.</param>
public readonly record struct IstioIdentity(string TrustDomain, string Namespace, string ServiceAccount)
{
    /// <summary>The SPIFFE ID of this identity; throws <see cref="SpiffeIdException"/> if a component is invalid.</summary>
    public SpiffeId ToSpiffeId() => SpiffeId.ForIstio(TrustDomain, Namespace, ServiceAccount);

    /// <inheritdoc />
    public override string ToString() => $"spiffe://{TrustDomain}/ns/{Namespace}/sa/{ServiceAccount}";
}
