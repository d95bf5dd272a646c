using DevControlPlane.Config;
using Grpc.Core;
using Hbone.Istio.Protos.Envoy.Discovery;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DevControlPlane.Xds;

/// <summary>istiod's ADS for ambient: delta xDS only, the Address and Authorization types, every stream a wildcard subscriber.</summary>
public sealed class DeltaAdsService(MeshState mesh, IHostApplicationLifetime lifetime, ILogger<DeltaAdsService> logger)
    : AggregatedDiscoveryService.AggregatedDiscoveryServiceBase
{
    public override Task StreamAggregatedResources(IAsyncStreamReader<DiscoveryRequest> requestStream, IServerStreamWriter<DiscoveryResponse> responseStream, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "only delta xDS (DeltaAggregatedResources) is served"));

    public override async Task DeltaAggregatedResources(IAsyncStreamReader<DeltaDiscoveryRequest> requestStream, IServerStreamWriter<DeltaDiscoveryResponse> responseStream, ServerCallContext context)
    {
        // Streams never end on their own; shutting down ends them so Kestrel can stop without waiting for a timeout.
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var stream = new DeltaStream(mesh, responseStream, logger, context.Peer);
        try
        {
            await stream.RunAsync(requestStream, ended.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The client went away or the server is stopping; the disconnect is already logged.
        }
    }
}
