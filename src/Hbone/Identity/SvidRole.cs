namespace Hbone.Identity;

/// <summary>The role of the peer whose SVID is validated; selects the required extended key usage.</summary>
public enum SvidRole
{
    /// <summary>The peer is a TLS client (inbound connection): its SVID must allow clientAuth.</summary>
    Client,
    /// <summary>The peer is a TLS server (outbound connection): its SVID must allow serverAuth.</summary>
    Server,
}
