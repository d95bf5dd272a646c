using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Admin;

/// <summary>A pod the node proxy serves (enrolled through ZDS), as the admin config dump shows it.</summary>
/// <param name="Uid">The pod's workload uid.</param>
/// <param name="Name">The pod name.</param>
/// <param name="Namespace">The Kubernetes namespace.</param>
/// <param name="ServiceAccount">The pod's service account.</param>
/// <param name="State"><c>Up</c> while serving, <c>Draining</c> once removed and finishing its connections.</param>
/// <param name="Addresses">The pod's IP addresses as text.</param>
public sealed record EnrolledPod(string Uid, string Name, string Namespace, string ServiceAccount, string State, IReadOnlyList<string> Addresses)
{
    /// <summary>How <paramref name="pod"/> is shown; the admin side reads the proxy, never the other way round.</summary>
    internal static EnrolledPod From(PodProxy pod) => new(
        pod.Uid,
        pod.Info.Name,
        pod.Info.Namespace,
        pod.Info.ServiceAccount,
        pod.Draining ? "Draining" : "Up",
        pod.Workload?.WorkloadIps.Select(static ip => ip.ToString()).ToArray() ?? []);
}
