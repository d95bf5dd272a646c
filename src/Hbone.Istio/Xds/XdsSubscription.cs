using Google.Protobuf;
using Hbone.Istio.Protos.Envoy.Discovery;

namespace Hbone.Istio.Xds;

/// <summary>One subscribed type: decodes its responses, calls its handler, and remembers what is held for reconnects.</summary>
internal abstract class XdsSubscription(string typeUrl)
{
    /// <summary>Resources held, name to version; sent as <c>initial_resource_versions</c> on reconnect. Rejected ones are absent so the server re-sends them.</summary>
    private readonly Dictionary<string, string> _held = new(StringComparer.Ordinal);

    public string TypeUrl { get; } = typeUrl;

    /// <summary>Whether a first response of this type was applied (ACKed or NACKed with its valid resources applied).</summary>
    public bool FirstApplied { get; set; }

    public Dictionary<string, string> SnapshotHeld() => new(_held, StringComparer.Ordinal);

    /// <summary>Applies one response and returns its rejections (empty for an ACK).</summary>
    public IReadOnlyList<XdsRejection> Apply(DeltaDiscoveryResponse response)
    {
        List<XdsRejection> rejections = Decode(response, out var accepted);
        rejections.AddRange(CallHandler(accepted, response.RemovedResources));
        HashSet<string> rejected = new(StringComparer.Ordinal);
        foreach (XdsRejection rejection in rejections)
        {
            rejected.Add(rejection.Name);
        }

        foreach (string name in response.RemovedResources)
        {
            _held.Remove(name);
        }

        foreach (Resource resource in response.Resources)
        {
            if (rejected.Contains(resource.Name))
            {
                _held.Remove(resource.Name);
            }
            else
            {
                _held[resource.Name] = resource.Version;
            }
        }

        return rejections;
    }

    protected abstract List<XdsRejection> Decode(DeltaDiscoveryResponse response, out object accepted);

    protected abstract IReadOnlyList<XdsRejection> CallHandler(object accepted, IReadOnlyList<string> removed);
}

/// <summary>The typed half of <see cref="XdsSubscription"/>.</summary>
internal sealed class XdsSubscription<T>(string typeUrl, IXdsHandler<T> handler) : XdsSubscription(typeUrl)
    where T : IMessage<T>, new()
{
    private static readonly MessageParser<T> Parser = new(() => new T());

    protected override List<XdsRejection> Decode(DeltaDiscoveryResponse response, out object accepted)
    {
        List<XdsRejection> rejections = [];
        List<XdsResource<T>> updated = new(response.Resources.Count);
        foreach (Resource resource in response.Resources)
        {
            if (resource.Resource_ is null)
            {
                rejections.Add(new XdsRejection(resource.Name, "no resource body"));
            }
            else if (resource.Resource_.TypeUrl != response.TypeUrl)
            {
                rejections.Add(new XdsRejection(resource.Name, $"type_url {resource.Resource_.TypeUrl} is not {response.TypeUrl}"));
            }
            else
            {
                try
                {
                    updated.Add(new XdsResource<T>(resource.Name, resource.Version, Parser.ParseFrom(resource.Resource_.Value)));
                }
                catch (InvalidProtocolBufferException ex)
                {
                    rejections.Add(new XdsRejection(resource.Name, "cannot decode: " + ex.Message));
                }
            }
        }

        accepted = updated;
        return rejections;
    }

    protected override IReadOnlyList<XdsRejection> CallHandler(object accepted, IReadOnlyList<string> removed)
    {
        var updated = (List<XdsResource<T>>)accepted;
        try
        {
            return handler.Apply(new XdsUpdate<T>(updated, removed));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A throwing handler must not kill the stream; refuse the whole batch so the server re-sends it later.
            List<XdsRejection> all = new(updated.Count);
            foreach (XdsResource<T> resource in updated)
            {
                all.Add(new XdsRejection(resource.Name, "handler failed: " + ex.Message));
            }

            return all;
        }
    }
}
