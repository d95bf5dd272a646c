namespace Hbone.Ztunnel.Xds;

/// <summary>The xDS stream as <c>/config_dump</c> shows it, when the ztunnel takes its config from istiod.</summary>
/// <param name="Address">istiod's xDS address.</param>
/// <param name="State">Connecting, Connected or Backoff.</param>
/// <param name="Ready">Whether the first response of every type was applied.</param>
/// <param name="Connects">Streams opened.</param>
/// <param name="Responses">Responses received.</param>
/// <param name="Acks">Responses ACKed.</param>
/// <param name="Nacks">Responses NACKed (some resource refused).</param>
public sealed record XdsStatus(string Address, string State, bool Ready, long Connects, long Responses, long Acks, long Nacks);
