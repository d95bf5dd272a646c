using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Kestrel.Tls;

internal sealed class HbonePeerIdentityFeature : IHbonePeerIdentityFeature
{
    public SpiffeId? PeerIdentity { get; set; }

    public X509Certificate2? PeerCertificate { get; set; }

    public SpiffeId? LocalIdentity { get; set; }
}
