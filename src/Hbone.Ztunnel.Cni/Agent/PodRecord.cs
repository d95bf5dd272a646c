using System.Text.Json.Serialization;

namespace Hbone.Ztunnel.Cni.Agent;

/// <summary>One enrolled pod as its file in the pods directory records it (the agent's stand-in for a pod event).</summary>
/// <param name="Uid">The pod's uid, unique on the node.</param>
/// <param name="Name">The pod's name.</param>
/// <param name="Namespace">The pod's Kubernetes namespace.</param>
/// <param name="ServiceAccount">The pod's service account (its identity).</param>
/// <param name="Netns">The absolute path of the pod's network namespace on the node.</param>
internal sealed record PodRecord(
    [property: JsonPropertyName("uid")] string Uid,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("namespace")] string Namespace,
    [property: JsonPropertyName("serviceAccount")] string ServiceAccount,
    [property: JsonPropertyName("netns")] string Netns);

[JsonSerializable(typeof(PodRecord))]
[JsonSourceGenerationOptions(WriteIndented = true)]
internal sealed partial class PodRecordJsonContext : JsonSerializerContext;
