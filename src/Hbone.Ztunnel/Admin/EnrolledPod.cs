namespace Hbone.Ztunnel.Admin;

/// <summary>A pod the node proxy serves (enrolled through ZDS), as the admin config dump shows it.</summary>
/// <param name="Uid">The pod's workload uid.</param>
/// <param name="Name">The pod name.</param>
/// <param name="Namespace">The Kubernetes namespace.</param>
/// <param name="ServiceAccount">The pod's service account.</param>
/// <param name="State"><c>Up</c> while serving, <c>Draining</c> once removed and finishing its connections.</param>
/// <param name="Addresses">The pod's IP addresses as text.</param>
public sealed record EnrolledPod(string Uid, string Name, string Namespace, string ServiceAccount, string State, IReadOnlyList<string> Addresses);
