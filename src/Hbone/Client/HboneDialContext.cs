using System.Net;
using Hbone.Identity;

namespace Hbone.Client;

/// <summary>What a dial is for, given to <see cref="HboneClientOptions.CreateSocket"/>.</summary>
/// <param name="Destination">The next hop, usually a pod's or gateway's <c>ip:15008</c>.</param>
/// <param name="SourceAddress">The local address to bind, when the request asked for one.</param>
/// <param name="SourceIdentity">The identity the connection will present.</param>
public sealed record HboneDialContext(IPEndPoint Destination, IPAddress? SourceAddress, SpiffeId SourceIdentity);
