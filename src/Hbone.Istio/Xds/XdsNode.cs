using System.Collections;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Hbone.Istio.Protos.Envoy.Core;

namespace Hbone.Istio.Xds;

/// <summary>
/// Who this proxy is, as istiod wants it in the xDS <c>Node</c>: the pod, its address and node, the cluster, and the
/// <c>ISTIO_META_*</c>/<c>ISTIO_METAJSON_*</c> metadata.
/// </summary>
public sealed class XdsNode
{
    private const string MetaPrefix = "ISTIO_META_";
    private const string MetaJsonPrefix = "ISTIO_METAJSON_";

    /// <summary>The first part of the node id: <c>ztunnel</c> for a node proxy; a gateway may say what it is.</summary>
    public string IdPrefix { get; set; } = "ztunnel";

    /// <summary>The proxy's pod name (<c>POD_NAME</c>).</summary>
    public string PodName { get; set; } = "";

    /// <summary>The proxy's pod namespace (<c>POD_NAMESPACE</c>).</summary>
    public string PodNamespace { get; set; } = "";

    /// <summary>The proxy's pod IP (<c>INSTANCE_IP</c>).</summary>
    public string InstanceIp { get; set; } = "";

    /// <summary>The Kubernetes node the proxy runs on (<c>NODE_NAME</c>).</summary>
    public string NodeName { get; set; } = "";

    /// <summary>The cluster id (<c>ISTIO_META_CLUSTER_ID</c>, else <c>CLUSTER_ID</c>); default <c>Kubernetes</c>.</summary>
    public string ClusterId { get; set; } = "Kubernetes";

    /// <summary>Extra string metadata, keyed without the <c>ISTIO_META_</c> prefix.</summary>
    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Extra JSON metadata (raw JSON text), keyed without the <c>ISTIO_METAJSON_</c> prefix.</summary>
    public IDictionary<string, string> MetadataJson { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The node id: <c>&lt;prefix&gt;~&lt;ip&gt;~&lt;pod&gt;.&lt;ns&gt;~&lt;ns&gt;.svc.cluster.local</c>.</summary>
    public string Id => $"{IdPrefix}~{InstanceIp}~{PodName}.{PodNamespace}~{PodNamespace}.svc.cluster.local";

    /// <summary>Reads the node from environment variables with ztunnel's names.</summary>
    /// <param name="environment">The variables, e.g. <see cref="Environment.GetEnvironmentVariables()"/>.</param>
    public static XdsNode FromEnvironment(IDictionary environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        string Get(string name) => environment[name] as string ?? "";
        XdsNode node = new()
        {
            PodName = Get("POD_NAME"),
            PodNamespace = Get("POD_NAMESPACE"),
            InstanceIp = Get("INSTANCE_IP"),
            NodeName = Get("NODE_NAME"),
        };
        string clusterId = Get("ISTIO_META_CLUSTER_ID");
        if (clusterId.Length == 0)
        {
            clusterId = Get("CLUSTER_ID");
        }

        node.ClusterId = clusterId.Length > 0 ? clusterId : "Kubernetes";
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is not string key || entry.Value is not string value)
            {
                continue;
            }

            // METAJSON first: "ISTIO_META_" is not a prefix of it, but keep the two apart explicitly.
            if (key.StartsWith(MetaJsonPrefix, StringComparison.Ordinal))
            {
                node.MetadataJson[key[MetaJsonPrefix.Length..]] = value;
            }
            else if (key.StartsWith(MetaPrefix, StringComparison.Ordinal))
            {
                node.Metadata[key[MetaPrefix.Length..]] = value;
            }
        }

        return node;
    }

    /// <summary>Builds the xDS <c>Node</c> message.</summary>
    /// <exception cref="IstioException">A <see cref="MetadataJson"/> value is not valid JSON (<see cref="IstioErrorReason.InvalidOptions"/>).</exception>
    public Node ToProto()
    {
        Struct metadata = new();
        foreach (KeyValuePair<string, string> entry in Metadata)
        {
            metadata.Fields[entry.Key] = Value.ForString(entry.Value);
        }

        foreach (KeyValuePair<string, string> entry in MetadataJson)
        {
            metadata.Fields[entry.Key] = ParseJson(entry.Key, entry.Value);
        }

        // The well-known keys win over ISTIO_META_ ones of the same name, as in ztunnel.
        metadata.Fields["NAME"] = Value.ForString(PodName);
        metadata.Fields["NAMESPACE"] = Value.ForString(PodNamespace);
        metadata.Fields["INSTANCE_IPS"] = Value.ForString(InstanceIp);
        metadata.Fields["NODE_NAME"] = Value.ForString(NodeName);
        metadata.Fields["CLUSTER_ID"] = Value.ForString(ClusterId);
        return new Node { Id = Id, Metadata = metadata };
    }

    private static Value ParseJson(string key, string json)
    {
        try
        {
            return JsonParser.Default.Parse<Value>(json);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new IstioException(IstioErrorReason.InvalidOptions, $"ISTIO_METAJSON_{key} is not valid JSON: {ex.Message}", ex);
        }
        catch (InvalidJsonException ex)
        {
            throw new IstioException(IstioErrorReason.InvalidOptions, $"ISTIO_METAJSON_{key} is not valid JSON: {ex.Message}", ex);
        }
    }
}
