using Hbone.Ztunnel.Cni.Agent;
using k8s;

namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>The <c>agent --kubernetes</c> command: the API client and options from the kubeconfig and environment, then the agent.</summary>
internal static class KubernetesAgent
{
    /// <summary>Starts the agent once the node's pods are listed and enrolled; null (after one line on stderr) when the environment is incomplete.</summary>
    /// <exception cref="k8s.Exceptions.KubeConfigException">No usable kubeconfig, or not in a cluster.</exception>
    public static async Task<NodeAgent?> StartAsync(string socketPath, string? kubeconfig, string hostProc, CancellationToken cancellationToken)
    {
        var options = KubernetesAgentOptions.FromEnvironment(Environment.GetEnvironmentVariable, hostProc, out var error);
        if (options is null)
        {
            await Console.Error.WriteLineAsync($"hbone-ztunnel-cni: error: {error}").ConfigureAwait(false);
            return null;
        }

        var configuration = Configuration(kubeconfig);
        return await NodeAgent.StartAsync(socketPath, log => new KubernetesPodSource(new k8s.Kubernetes(configuration), options, log), Console.Out, Console.Error, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>--kubeconfig, else $KUBECONFIG, else the in-cluster service account (istio-cni's order).</summary>
    private static KubernetesClientConfiguration Configuration(string? kubeconfig)
    {
        var path = kubeconfig ?? Environment.GetEnvironmentVariable("KUBECONFIG");
        return string.IsNullOrWhiteSpace(path)
            ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile(path);
    }
}
