using Hbone.Identity;

namespace Hbone.Istio.Ca;

/// <summary>Something that issues a workload certificate for an identity (the Istio CA client, or a fake in tests).</summary>
public interface ICertificateIssuer
{
    /// <summary>Issues a new certificate, with a new private key, for <paramref name="identity"/>.</summary>
    /// <param name="identity">The SPIFFE ID the certificate must carry.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="IstioException">The certificate could not be issued; <see cref="IstioException.Reason"/> says why.</exception>
    Task<IssuedCertificate> IssueAsync(SpiffeId identity, CancellationToken cancellationToken);
}
