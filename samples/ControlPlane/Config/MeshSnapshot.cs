using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Hbone.Identity;
using Hbone.Istio.Protos.Workload;

namespace DevControlPlane.Config;

/// <summary>One resource as served: its xDS name, its version (a hash of its bytes) and the packed proto.</summary>
public sealed record VersionedResource(string Name, string Version, Any Resource);

/// <summary>An immutable view of one good config: the xDS resources per type URL and who may get which certificate.</summary>
public sealed class MeshSnapshot
{
    public const string AddressType = "type.googleapis.com/istio.workload.Address";
    public const string AuthorizationType = "type.googleapis.com/istio.security.Authorization";

    private readonly HashSet<(string Node, string Identity)> _identitiesByNode;

    private MeshSnapshot(long generation, IReadOnlyDictionary<string, IReadOnlyDictionary<string, VersionedResource>> resources, HashSet<(string, string)> identitiesByNode)
    {
        Generation = generation;
        Resources = resources;
        _identitiesByNode = identitiesByNode;
    }

    /// <summary>Counts good configs loaded, starting at 1.</summary>
    public long Generation { get; }

    /// <summary>Type URL -> resource name -> resource.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, VersionedResource>> Resources { get; }

    /// <summary>Whether a workload with this SPIFFE identity is placed on this node (what a node proxy may ask certificates for).</summary>
    public bool RunsOnNode(string node, string identity) => _identitiesByNode.Contains((node, identity));

    public static MeshSnapshot Build(MeshConfig config, string trustDomain, long generation)
    {
        var addresses = new Dictionary<string, VersionedResource>(StringComparer.Ordinal);
        var identities = new HashSet<(string, string)>();
        foreach (MeshWorkload workload in config.Workloads)
        {
            Workload proto = workload.Proto.Clone();
            // istiod names the WorkloadSelector policies that select a workload on the workload itself.
            foreach (MeshPolicy policy in config.Policies)
            {
                if (policy.Selector is { } selector && policy.Proto.Namespace == proto.Namespace && Selects(selector, workload.Labels))
                {
                    proto.AuthorizationPolicies.Add($"{policy.Proto.Namespace}/{policy.Proto.Name}");
                }
            }

            Add(addresses, proto.Uid, new Address { Workload = proto });
            if (proto.Node.Length > 0)
            {
                identities.Add((proto.Node, SpiffeId.ForIstio(trustDomain, proto.Namespace, proto.ServiceAccount).ToString()));
            }
        }

        foreach (Service service in config.Services)
        {
            Add(addresses, $"{service.Namespace}/{service.Hostname}", new Address { Service = service });
        }

        var authorizations = new Dictionary<string, VersionedResource>(StringComparer.Ordinal);
        foreach (MeshPolicy policy in config.Policies)
        {
            Add(authorizations, $"{policy.Proto.Namespace}/{policy.Proto.Name}", policy.Proto);
        }

        var resources = new Dictionary<string, IReadOnlyDictionary<string, VersionedResource>>
        {
            [AddressType] = addresses,
            [AuthorizationType] = authorizations,
        };
        return new MeshSnapshot(generation, resources, identities);
    }

    private static bool Selects(IReadOnlyDictionary<string, string> selector, IReadOnlyDictionary<string, string> labels) =>
        selector.All(l => labels.TryGetValue(l.Key, out string? value) && value == l.Value);

    private static void Add(Dictionary<string, VersionedResource> into, string name, IMessage message) =>
        into[name] = new VersionedResource(name, Version(message), Any.Pack(message));

    /// <summary>A short hash of the serialized resource: equal bytes, equal version, on any server.</summary>
    private static string Version(IMessage message) => Convert.ToHexStringLower(SHA256.HashData(message.ToByteArray()).AsSpan(0, 8));
}
