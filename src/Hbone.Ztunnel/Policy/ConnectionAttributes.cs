using System.Net;
using Hbone.Identity;

namespace Hbone.Ztunnel.Policy;

/// <summary>What L4 authorization sees of one inbound connection.</summary>
/// <remarks>
/// The Istio view of the identity is read once here (it allocates), so that evaluation allocates nothing.
/// IPv4-mapped IPv6 addresses are stored as IPv4 so CIDR checks see one family.
/// </remarks>
public sealed record ConnectionAttributes
{
    private readonly SpiffeId? _sourceIdentity;
    private readonly IPAddress _sourceIp = IPAddress.None;
    private readonly IPAddress _destinationIp = IPAddress.None;

    public ConnectionAttributes(SpiffeId? sourceIdentity, IPAddress sourceIp, IPAddress destinationIp, int destinationPort, DestinationWorkload destination)
    {
        SourceIdentity = sourceIdentity;
        SourceIp = sourceIp;
        DestinationIp = destinationIp;
        DestinationPort = destinationPort;
        Destination = destination ?? throw new ArgumentNullException(nameof(destination));
    }

    /// <summary>The peer's SPIFFE ID from its certificate; null for plaintext (e.g. on 15006).</summary>
    public SpiffeId? SourceIdentity
    {
        get => _sourceIdentity;
        init
        {
            _sourceIdentity = value;
            SourceIstioIdentity = value is not null && value.TryGetIstioIdentity(out IstioIdentity istio) ? istio : null;
        }
    }

    /// <summary>The Istio view (<c>ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>) of <see cref="SourceIdentity"/>, when it has that shape.</summary>
    public IstioIdentity? SourceIstioIdentity { get; private init; }

    public IPAddress SourceIp
    {
        get => _sourceIp;
        init => _sourceIp = Normalize(value);
    }

    public IPAddress DestinationIp
    {
        get => _destinationIp;
        init => _destinationIp = Normalize(value);
    }

    public int DestinationPort { get; init; }

    public DestinationWorkload Destination { get; init; }

    private static IPAddress Normalize(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    }
}
