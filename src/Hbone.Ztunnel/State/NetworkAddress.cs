using System.Net;

namespace Hbone.Ztunnel.State;

/// <summary>An IP address inside a network (<c>network/ip</c>; the empty network is the default one).</summary>
/// <param name="Network">The network name, empty for the default network.</param>
/// <param name="Address">The IP address.</param>
public sealed record NetworkAddress(string Network, IPAddress Address)
{
    /// <inheritdoc />
    public override string ToString() => $"{Network}/{Address}";
}
