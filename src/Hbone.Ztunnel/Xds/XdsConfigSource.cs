using Hbone.Istio.ControlPlane;
using Hbone.Istio.Xds;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Xds;

/// <summary>
/// The mesh from istiod over delta xDS: each applied batch becomes the store's new snapshot. While istiod is away the
/// client reconnects with backoff and the last snapshot stays in force, so live tunnels and new ones keep working.
/// </summary>
internal sealed partial class XdsConfigSource : IAsyncDisposable
{
    private readonly ControlPlaneChannel _channel;
    private readonly DeltaXdsClient _client;
    private readonly WorkloadStore _store;
    private readonly ILogger _logger;

    /// <exception cref="Hbone.Istio.IstioException">The xDS root certificate cannot be read, or an option is invalid.</exception>
    public XdsConfigSource(ZtunnelConfig config, WorkloadStore store, ILoggerFactory loggerFactory)
    {
        _store = store;
        _logger = loggerFactory.CreateLogger<XdsConfigSource>();
        _channel = new ControlPlaneChannel(config.XdsConnection());
        var node = new XdsNode
        {
            PodName = config.PodName ?? "",
            PodNamespace = config.PodNamespace ?? "",
            InstanceIp = config.InstanceIp ?? "",
            NodeName = config.NodeName ?? "",
            ClusterId = config.ClusterId,
        };
        foreach (var (key, value) in config.ProxyMetadata)
        {
            node.Metadata[key] = value;
        }

        foreach (var (key, value) in config.ProxyMetadataJson)
        {
            node.MetadataJson[key] = value;
        }

        _client = new DeltaXdsClient(_channel, new XdsClientOptions { Node = node }, loggerFactory.CreateLogger<DeltaXdsClient>());
        Mesh.Changed += OnMeshChanged;
        _client.SubscribeIstio(Mesh);
    }

    /// <summary>Raised after each applied batch, with the new snapshot.</summary>
    public event EventHandler<ConfigChangedEventArgs>? Changed;

    /// <summary>The resources as istiod sent them.</summary>
    public IstioMeshState Mesh { get; } = new();

    /// <summary>Completes once the first response of every type was applied.</summary>
    public Task Ready => _client.Ready;

    /// <summary>The stream's state and counters, for <c>/config_dump</c>.</summary>
    public XdsStatus Status
    {
        get
        {
            var statistics = _client.Statistics;
            return new XdsStatus(_channel.Options.Address.ToString(), _client.State.ToString(), _client.Ready.IsCompleted, statistics.Connects, statistics.Responses, statistics.Acks, statistics.Nacks);
        }
    }

    /// <summary>Connects (in the background; failures are retried with backoff).</summary>
    /// <exception cref="Hbone.Istio.IstioException">An <c>ISTIO_METAJSON_*</c> value is not JSON.</exception>
    public void Start() => _client.Start();

    public async ValueTask DisposeAsync()
    {
        Mesh.Changed -= OnMeshChanged;
        await _client.DisposeAsync().ConfigureAwait(false);
        _channel.Dispose();
    }

    private void OnMeshChanged(object? sender, MeshSnapshot mesh)
    {
        LocalConfig config = XdsModel.ToConfig(mesh.Workloads.Values, mesh.Services.Values, mesh.Policies.Values);
        WorkloadSnapshot snapshot = _store.Update(config);
        Log.Applied(_logger, config.Workloads.Count, config.Services.Count, config.Policies.Count);
        Changed?.Invoke(this, new ConfigChangedEventArgs(snapshot, null));
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "xDS applied: {Workloads} workloads, {Services} services, {Policies} policies")]
        public static partial void Applied(ILogger logger, int workloads, int services, int policies);
    }
}
