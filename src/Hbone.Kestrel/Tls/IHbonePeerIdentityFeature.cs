using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Kestrel;

/// <summary>The validated SPIFFE identity of the TLS peer, set on the connection during the handshake.</summary>
public interface IHbonePeerIdentityFeature
{
    /// <summary>The peer's SPIFFE ID, or null before a certificate was validated.</summary>
    SpiffeId? PeerIdentity { get; }

    /// <summary>The peer's leaf certificate, or null before one was validated.</summary>
    X509Certificate2? PeerCertificate { get; }

    /// <summary>The identity this server presented on the connection.</summary>
    SpiffeId? LocalIdentity { get; }
}
