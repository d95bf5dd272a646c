using Hbone.Ztunnel.Cni.Kubernetes;
using k8s.Models;

namespace Hbone.Ztunnel.Cni.Tests.Agent.Kubernetes;

/// <summary>istio-cni's enrollment rule, case by case (CNI-AGENT-17).</summary>
public sealed class AmbientEligibilityTests
{
    private static readonly KubernetesAgentOptions Options = new() { NodeName = "node-a" };

    [Theory]
    [Trait("case", "CNI-AGENT-17")]
    // pod label, namespace label, namespace, expected
    [InlineData("ambient", null, "default", "Enroll")]
    [InlineData(null, "ambient", "default", "Enroll")]
    [InlineData("ambient", "none", "default", "Enroll")]
    [InlineData("none", "ambient", "default", "NotEligible")]
    [InlineData(null, null, "default", "NotEligible")]
    [InlineData(null, "none", "default", "NotEligible")]
    [InlineData("sidecar", null, "default", "NotEligible")]
    [InlineData("ambient", "ambient", "kube-system", "NotEligible")]
    public void CNI_AGENT_17_pod_and_namespace_labels_decide(string? podMode, string? namespaceMode, string podNamespace, string expected)
    {
        var pod = Pod(podNamespace, podMode);
        var namespaceLabels = namespaceMode is null ? null : new Dictionary<string, string> { [AmbientEligibility.DataplaneModeLabel] = namespaceMode };

        Assert.Equal(expected, AmbientEligibility.Decide(pod, namespaceLabels, Options).ToString());
    }

    [Fact]
    [Trait("case", "CNI-AGENT-17")]
    public void CNI_AGENT_17_host_network_sidecars_and_the_ztunnel_itself_are_never_enrolled()
    {
        var hostNetwork = Pod("default", "ambient");
        hostNetwork.Spec.HostNetwork = true;
        var sidecar = Pod("default", "ambient");
        sidecar.Metadata.Annotations = new Dictionary<string, string> { [AmbientEligibility.SidecarStatusAnnotation] = "{}" };
        var ztunnel = Pod("istio-system", "ambient");
        ztunnel.Metadata.Labels["app"] = "ztunnel";
        var otherZtunnel = Pod("apps", "ambient");
        otherZtunnel.Metadata.Labels["app"] = "ztunnel";

        Assert.Equal(PodVerdict.NotEligible, AmbientEligibility.Decide(hostNetwork, null, Options));
        Assert.Equal(PodVerdict.NotEligible, AmbientEligibility.Decide(sidecar, null, Options));
        Assert.Equal(PodVerdict.NotEligible, AmbientEligibility.Decide(ztunnel, null, Options));
        Assert.Equal(PodVerdict.Enroll, AmbientEligibility.Decide(otherZtunnel, null, Options));
        Assert.Equal(PodVerdict.NotEligible, AmbientEligibility.Decide(Pod("apps", "ambient"), null, Options with { ExcludedNamespaces = new HashSet<string> { "apps" } }));
    }

    [Theory]
    [Trait("case", "CNI-AGENT-17")]
    [InlineData("Succeeded", "Terminal")]
    [InlineData("Failed", "Terminal")]
    [InlineData("Pending", "Enroll")]
    [InlineData("Running", "Enroll")]
    public void CNI_AGENT_17_terminal_phases_leave_even_when_no_longer_labelled(string phase, string expected)
    {
        var pod = Pod("default", "ambient");
        pod.Status.Phase = phase;
        var unlabelled = Pod("default", null);
        unlabelled.Status.Phase = phase;

        Assert.Equal(expected, AmbientEligibility.Decide(pod, null, Options).ToString());
        Assert.Equal(expected == "Terminal" ? "Terminal" : "NotEligible", AmbientEligibility.Decide(unlabelled, null, Options).ToString());
    }

    [Fact]
    [Trait("case", "CNI-AGENT-17")]
    public void CNI_AGENT_17_a_pod_without_an_IP_waits_and_podIPs_win_over_podIP()
    {
        var pod = Pod("default", "ambient");
        pod.Status.PodIP = null;
        pod.Status.PodIPs = null;
        Assert.Equal(PodVerdict.AwaitAddress, AmbientEligibility.Decide(pod, null, Options));

        pod.Status.PodIP = "10.244.0.9";
        pod.Status.PodIPs = [new V1PodIP { Ip = "10.244.0.9" }, new V1PodIP { Ip = "fd00::9" }];
        Assert.Equal(["10.244.0.9", "fd00::9"], AmbientEligibility.PodIps(pod).Select(ip => ip.ToString()));
    }

    [Fact]
    [Trait("case", "CNI-AGENT-17")]
    public void CNI_AGENT_17_options_come_from_istio_cnis_environment()
    {
        var environment = new Dictionary<string, string>
        {
            ["NODE_NAME"] = "node-b",
            ["POD_NAMESPACE"] = "istio-cni",
            ["EXCLUDE_NAMESPACES"] = "kube-system, monitoring",
            ["AMBIENT_DNS_CAPTURE"] = "false",
        };

        var options = KubernetesAgentOptions.FromEnvironment(environment.GetValueOrDefault, "/host/proc", out var error);

        Assert.Null(error);
        Assert.Equal(("node-b", "istio-cni", false, "/host/proc"), (options!.NodeName, options.AgentNamespace, options.CaptureDns, options.HostProc));
        Assert.Equal(["kube-system", "monitoring"], options.ExcludedNamespaces.Order(StringComparer.Ordinal));
        Assert.Null(KubernetesAgentOptions.FromEnvironment(_ => null, "/proc", out error));
        Assert.Equal("NODE_NAME is required with --kubernetes (set it from spec.nodeName with the downward API).", error);
        var defaults = KubernetesAgentOptions.FromEnvironment(name => name == "NODE_NAME" ? "n" : null, "/proc", out _)!;
        Assert.Equal(("istio-system", true, "kube-system"), (defaults.AgentNamespace, defaults.CaptureDns, defaults.ExcludedNamespaces.Single()));
    }

    private static V1Pod Pod(string podNamespace, string? podMode) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = "p",
            NamespaceProperty = podNamespace,
            Uid = "11111111-2222-3333-4444-555555555555",
            Labels = podMode is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [AmbientEligibility.DataplaneModeLabel] = podMode },
        },
        Spec = new V1PodSpec(),
        Status = new V1PodStatus { Phase = "Running", PodIP = "10.244.0.9" },
    };
}
