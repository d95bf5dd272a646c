using Hbone.Istio.Protos.Security;
using WorkloadAddress = Hbone.Istio.Protos.Workload.Address;

namespace Hbone.Istio.Xds;

/// <summary>Wires Istio's ambient types into a <see cref="DeltaXdsClient"/>.</summary>
public static class IstioXdsClientExtensions
{
    /// <summary>Subscribes <paramref name="state"/> to addresses (<see cref="XdsTypeUrls.Address"/>) and policies (<see cref="XdsTypeUrls.Authorization"/>).</summary>
    /// <param name="client">The client, not yet started.</param>
    /// <param name="state">The state to fill.</param>
    /// <returns>The client.</returns>
    public static DeltaXdsClient SubscribeIstio(this DeltaXdsClient client, IstioMeshState state)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(state);
        client.Subscribe<WorkloadAddress>(XdsTypeUrls.Address, state);
        client.Subscribe<Authorization>(XdsTypeUrls.Authorization, state);
        return client;
    }
}
