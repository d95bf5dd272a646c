namespace Hbone.Ztunnel.State;

/// <summary>Where a waypoint listens: its address and its HBONE port (ztunnel's <c>waypoint: {destination, hboneMtlsPort}</c>).</summary>
/// <param name="Destination">The waypoint's address.</param>
/// <param name="HboneMtlsPort">The waypoint's HBONE port, 15008 unless set.</param>
public sealed record GatewayAddress(NetworkAddress Destination, int HboneMtlsPort);
