using System.Net;
using DevControlPlane.Config;
using Grpc.Core;
using Hbone.Istio.Protos.Envoy.Core;
using Hbone.Istio.Protos.Envoy.Discovery;
using Hbone.Istio.Protos.Security;
using Hbone.Istio.Protos.Workload;
using static Hbone.Istio.Tests.ControlPlane.DevControlPlaneMesh;
using Address = Hbone.Istio.Protos.Workload.Address;
using Authorization = Hbone.Istio.Protos.Security.Authorization;

namespace Hbone.Istio.Tests.ControlPlane;

public sealed class DevControlPlaneXdsTests
{
    private const string AddressType = MeshSnapshot.AddressType;
    private const string AuthorizationType = MeshSnapshot.AuthorizationType;

    [Fact]
    public async Task CP_01_first_response_holds_every_workload_and_service_as_the_yaml_has_them()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml());
        using var stream = Open(bed);
        await SubscribeAsync(stream, AddressType);
        DeltaDiscoveryResponse addresses = await NextAsync(stream);

        Assert.Equal(AddressType, addresses.TypeUrl);
        Assert.Empty(addresses.RemovedResources);
        Assert.Equal([ClientUid, EchoUid, EchoService], addresses.Resources.Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.All(addresses.Resources, r => Assert.Matches("^[0-9a-f]{16}$", r.Version));

        Workload client = Unpack<Address>(addresses, ClientUid).Workload;
        Assert.Equal(("client", "default", "client", "node-a"), (client.Name, client.Namespace, client.ServiceAccount, client.Node));
        Assert.Equal(TunnelProtocol.Hbone, client.TunnelProtocol);
        Assert.Equal([IPAddress.Parse("10.244.0.2").GetAddressBytes()], client.Addresses.Select(a => a.ToByteArray()));
        Assert.Empty(client.AuthorizationPolicies);

        Workload echo = Unpack<Address>(addresses, EchoUid).Workload;
        Assert.Equal(TunnelProtocol.None, echo.TunnelProtocol);
        Assert.Equal([IPAddress.Parse("10.244.1.3").GetAddressBytes(), IPAddress.Parse("fd00::3").GetAddressBytes()], echo.Addresses.Select(a => a.ToByteArray()));
        Assert.Equal([EchoPolicy], echo.AuthorizationPolicies);
        Assert.Equal([(80u, 8080u)], echo.Services[EchoService].Ports.Select(p => (p.ServicePort, p.TargetPort)));
        Assert.Equal("net1", echo.Waypoint.Address.Network);
        Assert.Equal(IPAddress.Parse("10.244.9.9").GetAddressBytes(), echo.Waypoint.Address.Address.ToByteArray());
        Assert.Equal(15009u, echo.Waypoint.HboneMtlsPort);

        Service service = Unpack<Address>(addresses, EchoService).Service;
        Assert.Equal(("echo", "default", "echo.default.svc.cluster.local"), (service.Name, service.Namespace, service.Hostname));
        Assert.Equal("", Assert.Single(service.Addresses).Network);
        Assert.Equal(new byte[] { 10, 96, 0, 10 }, service.Addresses[0].Address.ToByteArray());
        Assert.Equal([(80u, 8080u)], service.Ports.Select(p => (p.ServicePort, p.TargetPort)));
        Assert.Equal([EchoIdentity], service.SubjectAltNames);

        await SubscribeAsync(stream, AuthorizationType);
        DeltaDiscoveryResponse policies = await NextAsync(stream);
        Assert.Equal(AuthorizationType, policies.TypeUrl);
        Assert.NotEqual(addresses.Nonce, policies.Nonce);
        Authorization policy = Unpack<Authorization>(policies, EchoPolicy);
        Assert.Equal(("echo-allow", "default", Scope.WorkloadSelector, Hbone.Istio.Protos.Security.Action.Allow), (policy.Name, policy.Namespace, policy.Scope, policy.Action));
        Match match = Assert.Single(Assert.Single(Assert.Single(policy.Rules).Clauses).Matches);
        Assert.Equal("cluster.local/ns/default/sa/client", Assert.Single(match.Principals).Exact);
        Assert.Equal("def", Assert.Single(match.Namespaces).Prefix);
        Assert.Equal([8080u], match.DestinationPorts);
        Assert.Equal(new byte[] { 10, 0, 0, 0 }, Assert.Single(match.NotSourceIps).Address_.ToByteArray());
        Assert.Equal(8u, match.NotSourceIps[0].Length);
    }

    [Fact]
    public async Task CP_02_rewriting_the_yaml_pushes_only_the_changed_resource_and_the_removed_name()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml());
        using var stream = Open(bed);
        await SubscribeAsync(stream, AddressType);
        DeltaDiscoveryResponse first = await NextAsync(stream);
        await AckAsync(stream, first);
        await SubscribeAsync(stream, AuthorizationType);
        await AckAsync(stream, await NextAsync(stream));

        bed.WriteConfig(Yaml(clientIp: "10.244.0.22", withService: false));
        DeltaDiscoveryResponse delta = await NextAsync(stream);

        Assert.Equal(AddressType, delta.TypeUrl);
        Assert.Equal([ClientUid], delta.Resources.Select(r => r.Name));
        Assert.Equal(new byte[] { 10, 244, 0, 22 }, Unpack<Address>(delta, ClientUid).Workload.Addresses.Single().ToByteArray());
        Assert.NotEqual(first.Resources.Single(r => r.Name == ClientUid).Version, delta.Resources[0].Version);
        Assert.Equal([EchoService], delta.RemovedResources);
        Assert.NotEqual(first.Nonce, delta.Nonce);
    }

    [Fact]
    public async Task CP_03_a_bad_yaml_keeps_the_last_state_and_pushes_nothing()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml());
        using var stream = Open(bed);
        await SubscribeAsync(stream, AddressType);
        await AckAsync(stream, await NextAsync(stream));
        await SubscribeAsync(stream, AuthorizationType);
        await AckAsync(stream, await NextAsync(stream));
        long generation = bed.Host.Mesh.Current.Generation;

        Task<string?> rejected = bed.NextReloadAsync();
        bed.WriteConfig(Yaml().Replace("10.244.0.2", "not-an-ip", StringComparison.Ordinal));
        Assert.Contains("'not-an-ip' is not an IP address", await rejected, StringComparison.Ordinal);
        Assert.Equal(generation, bed.Host.Mesh.Current.Generation);

        // The next push is the policy change alone: nothing was sent for the bad file, and the addresses still match the client's.
        bed.WriteConfig(Yaml(policyAction: "Deny"));
        DeltaDiscoveryResponse delta = await NextAsync(stream);
        Assert.Equal(AuthorizationType, delta.TypeUrl);
        Assert.Equal(Hbone.Istio.Protos.Security.Action.Deny, Unpack<Authorization>(delta, EchoPolicy).Action);
        Assert.Single(delta.Resources);
        Assert.Empty(delta.RemovedResources);
    }

    [Fact]
    public async Task CP_04_a_client_holding_everything_at_current_versions_gets_an_empty_response()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml());
        Dictionary<string, string> held = await HeldVersionsAsync(bed);

        using var again = Open(bed);
        await SubscribeAsync(again, AddressType, held);
        DeltaDiscoveryResponse response = await NextAsync(again);

        Assert.Equal(AddressType, response.TypeUrl);
        Assert.Empty(response.Resources);
        Assert.Empty(response.RemovedResources);
        Assert.NotEmpty(response.Nonce);
    }

    [Fact]
    public async Task CP_05_a_client_holding_a_stale_and_a_deleted_resource_gets_exactly_that_update_and_removal()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml());
        Dictionary<string, string> held = await HeldVersionsAsync(bed);
        string current = held[ClientUid];
        held[ClientUid] = "0000000000000000";
        held["cluster1//v1/Pod/default/gone"] = "1111111111111111";

        using var again = Open(bed);
        await SubscribeAsync(again, AddressType, held);
        DeltaDiscoveryResponse response = await NextAsync(again);

        Assert.Equal([(ClientUid, current)], response.Resources.Select(r => (r.Name, r.Version)));
        Assert.Equal(["cluster1//v1/Pod/default/gone"], response.RemovedResources);
    }

    [Fact]
    public async Task CP_06_state_of_the_world_ads_is_unimplemented()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml());
        using var call = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(bed.Channel).StreamAggregatedResources();
        using var deadline = new CancellationTokenSource(DevControlPlaneTestBed.Deadline);

        // The server may answer before or after the request is written; either way the call fails with UNIMPLEMENTED.
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(new DiscoveryRequest { TypeUrl = AddressType }, deadline.Token);
            await call.ResponseStream.MoveNext(deadline.Token);
        });
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
    }

    [Fact]
    public async Task CP_07_stopping_ends_open_streams_instead_of_waiting_for_them()
    {
        await using var bed = await DevControlPlaneTestBed.StartAsync(Yaml());
        using var stream = Open(bed);
        await SubscribeAsync(stream, AddressType);
        await NextAsync(stream);

        // Far below the 30 s an unended stream would hold a default host; a client that keeps its connection open after its
        // stream ended is cut after DevControlPlaneHost.ShutdownGrace.
        await bed.Host.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        // Whether the client saw the trailers or the connection close under an unread stream, the stream is over.
        using var deadline = new CancellationTokenSource(DevControlPlaneTestBed.Deadline);
        bool more;
        try
        {
            more = await stream.ResponseStream.MoveNext(deadline.Token);
        }
        catch (RpcException)
        {
            more = false;
        }

        Assert.False(more);
    }

    private static AsyncDuplexStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> Open(DevControlPlaneTestBed bed) =>
        new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(bed.Channel).DeltaAggregatedResources();

    private static Task SubscribeAsync(AsyncDuplexStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> stream, string typeUrl, IDictionary<string, string>? held = null)
    {
        var request = new DeltaDiscoveryRequest { TypeUrl = typeUrl, Node = new Node { Id = "ztunnel~10.0.0.1~ztunnel-a.istio-system~istio-system.svc.cluster.local" } };
        if (held is not null)
        {
            request.InitialResourceVersions.Add(held);
        }

        return stream.RequestStream.WriteAsync(request);
    }

    private static Task AckAsync(AsyncDuplexStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> stream, DeltaDiscoveryResponse response) =>
        stream.RequestStream.WriteAsync(new DeltaDiscoveryRequest { TypeUrl = response.TypeUrl, ResponseNonce = response.Nonce });

    private static async Task<DeltaDiscoveryResponse> NextAsync(AsyncDuplexStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> stream)
    {
        using var deadline = new CancellationTokenSource(DevControlPlaneTestBed.Deadline);
        Assert.True(await stream.ResponseStream.MoveNext(deadline.Token), "the stream ended");
        return stream.ResponseStream.Current;
    }

    /// <summary>The Address versions a first client got, as a reconnecting client reports them.</summary>
    private static async Task<Dictionary<string, string>> HeldVersionsAsync(DevControlPlaneTestBed bed)
    {
        using var stream = Open(bed);
        await SubscribeAsync(stream, AddressType);
        DeltaDiscoveryResponse response = await NextAsync(stream);
        return response.Resources.ToDictionary(r => r.Name, r => r.Version);
    }

    private static T Unpack<T>(DeltaDiscoveryResponse response, string name)
        where T : Google.Protobuf.IMessage<T>, new() =>
        response.Resources.Single(r => r.Name == name).Resource_.Unpack<T>();
}
