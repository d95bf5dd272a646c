using System.Globalization;
using System.Threading.Channels;
using DevControlPlane.Config;
using Grpc.Core;
using Hbone.Istio.Protos.Envoy.Discovery;
using Microsoft.Extensions.Logging;

namespace DevControlPlane.Xds;

/// <summary>
/// One delta ADS stream. Requests and config changes go through one queue, so responses are written by one loop and the
/// record of what the client holds (name -> version, per subscribed type) needs no lock.
/// </summary>
internal sealed partial class DeltaStream(MeshState mesh, IServerStreamWriter<DeltaDiscoveryResponse> responses, ILogger logger, string peer)
{
    private readonly Channel<DeltaDiscoveryRequest?> _events = Channel.CreateUnbounded<DeltaDiscoveryRequest?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, Dictionary<string, string>> _held = new(StringComparer.Ordinal);
    private string? _node;
    private int _sent;

    public async Task RunAsync(IAsyncStreamReader<DeltaDiscoveryRequest> requests, CancellationToken cancellationToken)
    {
        // A null event means "the config changed": the loop diffs against the snapshot current when it gets there.
        void OnChanged(MeshSnapshot _) => _events.Writer.TryWrite(null);
        mesh.Changed += OnChanged;
        Task reading = ReadRequestsAsync(requests, cancellationToken);
        try
        {
            await foreach (DeltaDiscoveryRequest? request in _events.Reader.ReadAllAsync(cancellationToken))
            {
                if (request is null)
                {
                    await PushChangesAsync(cancellationToken);
                }
                else
                {
                    await HandleRequestAsync(request, cancellationToken);
                }
            }
        }
        finally
        {
            mesh.Changed -= OnChanged;
            if (_node is not null)
            {
                LogDisconnected(_node, peer, _sent);
            }

            await reading;
        }
    }

    private async Task ReadRequestsAsync(IAsyncStreamReader<DeltaDiscoveryRequest> requests, CancellationToken cancellationToken)
    {
        try
        {
            while (await requests.MoveNext(cancellationToken))
            {
                _events.Writer.TryWrite(requests.Current);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException or RpcException)
        {
            // The client is gone: ending the queue ends the stream.
        }
        finally
        {
            _events.Writer.TryComplete();
        }
    }

    private async Task HandleRequestAsync(DeltaDiscoveryRequest request, CancellationToken cancellationToken)
    {
        if (_node is null)
        {
            _node = request.Node?.Id is { Length: > 0 } id ? id : "(no node id)";
            LogConnected(_node, peer);
        }

        if (!mesh.Current.Resources.ContainsKey(request.TypeUrl))
        {
            LogUnknownType(_node, request.TypeUrl);
            return;
        }

        if (!_held.ContainsKey(request.TypeUrl))
        {
            // The first request of a type subscribes to everything of it; initial_resource_versions says what the client already holds.
            var held = new Dictionary<string, string>(request.InitialResourceVersions, StringComparer.Ordinal);
            _held[request.TypeUrl] = held;
            await responses.WriteAsync(Diff(request.TypeUrl, held, mesh.Current), cancellationToken);
            _sent++;
            return;
        }

        if (request.ErrorDetail is { } error)
        {
            LogNack(_node, request.TypeUrl, request.ResponseNonce, error.Message.ReplaceLineEndings(" "));
        }
    }

    private async Task PushChangesAsync(CancellationToken cancellationToken)
    {
        MeshSnapshot snapshot = mesh.Current;
        foreach (var (typeUrl, held) in _held)
        {
            DeltaDiscoveryResponse delta = Diff(typeUrl, held, snapshot);
            if (delta.Resources.Count > 0 || delta.RemovedResources.Count > 0)
            {
                await responses.WriteAsync(delta, cancellationToken);
                _sent++;
            }
        }
    }

    /// <summary>What the client lacks (new or other version) and what it holds that no longer exists; updates <paramref name="held"/> to match.</summary>
    private static DeltaDiscoveryResponse Diff(string typeUrl, Dictionary<string, string> held, MeshSnapshot snapshot)
    {
        var response = new DeltaDiscoveryResponse
        {
            TypeUrl = typeUrl,
            SystemVersionInfo = snapshot.Generation.ToString(CultureInfo.InvariantCulture),
            Nonce = Guid.NewGuid().ToString("N"),
        };
        IReadOnlyDictionary<string, VersionedResource> current = snapshot.Resources[typeUrl];
        foreach (VersionedResource resource in current.Values)
        {
            if (!held.TryGetValue(resource.Name, out string? version) || version != resource.Version)
            {
                response.Resources.Add(new Resource { Name = resource.Name, Version = resource.Version, Resource_ = resource.Resource });
                held[resource.Name] = resource.Version;
            }
        }

        foreach (string name in held.Keys.Where(name => !current.ContainsKey(name)).ToList())
        {
            response.RemovedResources.Add(name);
            held.Remove(name);
        }

        return response;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "xds: connected node={Node} peer={Peer}")]
    private partial void LogConnected(string node, string peer);

    [LoggerMessage(Level = LogLevel.Information, Message = "xds: disconnected node={Node} peer={Peer} responses={Responses}")]
    private partial void LogDisconnected(string node, string peer, int responses);

    [LoggerMessage(Level = LogLevel.Warning, Message = "xds: NACK node={Node} type={TypeUrl} nonce={Nonce}: {Error}")]
    private partial void LogNack(string node, string typeUrl, string nonce, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "xds: node={Node} asked for unknown type {TypeUrl}; ignored")]
    private partial void LogUnknownType(string node, string typeUrl);
}
