using k8s.Models;

namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>
/// istio-cni's ambient-enrollment rule with its default enablement selectors (cni/pkg/util/enablement_selector.go,
/// before 1.27 <c>PodRedirectionEnabled</c>): a pod is in the mesh when it or its namespace carries
/// <c>istio.io/dataplane-mode=ambient</c>, unless the pod says <c>none</c>, uses the host network, has a sidecar, or
/// lives in an excluded namespace; the node's own ztunnel pods never are.
/// </summary>
internal static class AmbientEligibility
{
    public const string DataplaneModeLabel = "istio.io/dataplane-mode";
    public const string SidecarStatusAnnotation = "sidecar.istio.io/status";

    public static PodVerdict Decide(V1Pod pod, IDictionary<string, string>? namespaceLabels, KubernetesAgentOptions options)
    {
        if (IsTerminal(pod))
        {
            return PodVerdict.Terminal;
        }

        if (!ShouldBeEnrolled(pod, namespaceLabels, options))
        {
            return PodVerdict.NotEligible;
        }

        return PodIps(pod).Count == 0 ? PodVerdict.AwaitAddress : PodVerdict.Enroll;
    }

    /// <summary>istio-cni's <c>shouldBeEnabled</c>: the selectors match and the namespace is not excluded.</summary>
    public static bool ShouldBeEnrolled(V1Pod pod, IDictionary<string, string>? namespaceLabels, KubernetesAgentOptions options)
    {
        var podNamespace = pod.Metadata?.NamespaceProperty ?? string.Empty;
        if (options.ExcludedNamespaces.Contains(podNamespace) || IsZtunnel(pod, options))
        {
            return false;
        }

        if (pod.Spec?.HostNetwork == true || pod.Metadata?.Annotations?.ContainsKey(SidecarStatusAnnotation) == true)
        {
            return false;
        }

        var podMode = pod.Metadata?.Labels?.TryGetValue(DataplaneModeLabel, out var value) == true ? value : null;
        if (podMode == "none")
        {
            return false;
        }

        // A pod's "ambient" wins in any namespace; a namespace's "ambient" enrolls every pod that does not opt out.
        return podMode == "ambient" || namespaceLabels?.TryGetValue(DataplaneModeLabel, out var namespaceMode) == true && namespaceMode == "ambient";
    }

    /// <summary>istio-cni's <c>IsZtunnelPod</c>: label <c>app=ztunnel</c> in the agent's own namespace.</summary>
    public static bool IsZtunnel(V1Pod pod, KubernetesAgentOptions options) =>
        pod.Metadata?.NamespaceProperty == options.AgentNamespace && pod.Metadata?.Labels?.TryGetValue("app", out var app) == true && app == "ztunnel";

    /// <summary>Kubernetes' <c>CheckPodTerminal</c>: the phase is Succeeded or Failed.</summary>
    public static bool IsTerminal(V1Pod pod) => pod.Status?.Phase is "Succeeded" or "Failed";

    /// <summary>The pod's addresses: <c>status.podIPs</c>, else <c>status.podIP</c>; unparsable entries ignored.</summary>
    public static IReadOnlyList<System.Net.IPAddress> PodIps(V1Pod pod)
    {
        var addresses = new List<System.Net.IPAddress>();
        foreach (var entry in pod.Status?.PodIPs ?? [])
        {
            if (System.Net.IPAddress.TryParse(entry.Ip, out var address) && !addresses.Contains(address))
            {
                addresses.Add(address);
            }
        }

        if (addresses.Count == 0 && System.Net.IPAddress.TryParse(pod.Status?.PodIP, out var single))
        {
            addresses.Add(single);
        }

        return addresses;
    }
}
