namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>What the agent needs to follow its node's pods from the API server; defaults are istio-cni's.</summary>
internal sealed record KubernetesAgentOptions
{
    /// <summary>The node whose pods the agent enrolls (<c>NODE_NAME</c>, from the downward API).</summary>
    public required string NodeName { get; init; }

    /// <summary>The agent's own namespace (<c>POD_NAMESPACE</c>); its ztunnel pods (<c>app=ztunnel</c>) there are never enrolled.</summary>
    public string AgentNamespace { get; init; } = "istio-system";

    /// <summary>Namespaces whose pods are never enrolled (<c>EXCLUDE_NAMESPACES</c>).</summary>
    public IReadOnlySet<string> ExcludedNamespaces { get; init; } = new HashSet<string>(StringComparer.Ordinal) { "kube-system" };

    /// <summary>Redirect pods' DNS to the ztunnel unless a pod's annotation says otherwise (<c>AMBIENT_DNS_CAPTURE</c>).</summary>
    public bool CaptureDns { get; init; } = true;

    /// <summary>The node's /proc, scanned for the pods' network namespaces (a host mount in a DaemonSet).</summary>
    public string HostProc { get; init; } = "/proc";

    /// <summary>Where each enrolled pod's network namespace is bind-mounted, so it outlives the process it was found through.</summary>
    public string NetnsDirectory { get; init; } = "/var/run/hbone-ztunnel-cni/netns";

    /// <summary>How often a pod that should be enrolled but is not yet (no namespace found, a rule failed) is tried again.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The first wait after a failed list or watch; doubled up to <see cref="MaxBackoff"/> (client-go's reflector uses 0.8 s to 30 s).</summary>
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromMilliseconds(800);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The watch's <c>timeoutSeconds</c>: the server ends each watch after it and the agent watches again from the last version; random in [300, 600) unless set, as client-go.</summary>
    public int? WatchTimeoutSeconds { get; init; }

    /// <summary>Reads the options from the environment as istio-cni's DaemonSet sets it.</summary>
    /// <returns>The options, or null with the one-line <paramref name="error"/>.</returns>
    public static KubernetesAgentOptions? FromEnvironment(Func<string, string?> environment, string hostProc, out string? error)
    {
        var node = environment("NODE_NAME");
        if (string.IsNullOrWhiteSpace(node))
        {
            error = "NODE_NAME is required with --kubernetes (set it from spec.nodeName with the downward API).";
            return null;
        }

        var dns = environment("AMBIENT_DNS_CAPTURE");
        bool captureDns = true;
        if (!string.IsNullOrWhiteSpace(dns) && !bool.TryParse(dns.Trim(), out captureDns))
        {
            error = $"AMBIENT_DNS_CAPTURE must be true or false, not '{dns}'.";
            return null;
        }

        error = null;
        var excluded = environment("EXCLUDE_NAMESPACES") ?? "kube-system";
        var agentNamespace = environment("POD_NAMESPACE");
        return new KubernetesAgentOptions
        {
            NodeName = node.Trim(),
            AgentNamespace = string.IsNullOrWhiteSpace(agentNamespace) ? "istio-system" : agentNamespace.Trim(),
            ExcludedNamespaces = excluded.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal),
            CaptureDns = captureDns,
            HostProc = hostProc,
        };
    }
}
