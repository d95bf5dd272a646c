using System.Net;
using System.Security.Cryptography;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Identity;
using Hbone.Kestrel;
using Hbone.Kestrel.Tests.Infrastructure;
using Hbone.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Waypoint;

namespace Hbone.Client.Tests.Samples;

/// <summary>
/// samples/Waypoint between a client and a "pod" (each a real HBONE server on loopback): policy by the peer's SPIFFE
/// identity, the waypoint's own tunnel to the pod with the original client in Forwarded, the pod's identity checked,
/// and the east-west splice of a double-HBONE inner session.
/// </summary>
public sealed class WaypointSampleTests : IAsyncLifetime
{
    private const string Vip = "10.96.0.40:80";
    private const string Hostname = "reviews.default.svc.cluster.local";
    private static readonly Svid WaypointSvid = TestPki.Shared.Ca.IssueIstio("default", "waypoint");
    private readonly TaskCompletionSource<(SpiffeId Peer, IPEndPoint? For, string Authority, string? Host)> _podSaw = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HboneClient _client = ClientFixture.CreateClient();
    private HboneTestServer? _pod;
    private HboneTestServer? _waypoint;
    private HboneClient? _waypointClient;

    public async Task InitializeAsync()
    {
        // The pod behind the waypoint (identity default/server): records what reached it and echoes.
        _pod = await HboneTestServer.StartAsync(handler: b => b.AddHandler(async ctx =>
        {
            _podSaw.TrySetResult((ctx.PeerIdentity, ctx.ForwardedFor, ctx.Authority.ToString(), ctx.Forwarded?.Host));
            var tunnel = await ctx.AcceptAsync(ctx.Aborted);
            await tunnel.Stream.CopyToAsync(tunnel.Stream, ctx.Aborted);
            await tunnel.CompleteWritesAsync();
        }));
        _waypoint = await StartWaypointAsync(ClientFixture.ServerId);
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        if (_waypoint is not null)
        {
            await _waypoint.DisposeAsync();
        }

        if (_waypointClient is not null)
        {
            await _waypointClient.DisposeAsync();
        }

        if (_pod is not null)
        {
            await _pod.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_tunnel_to_the_VIP_reaches_the_pod_through_the_waypoint_s_own_tunnel_with_the_original_client_in_Forwarded()
    {
        await using var tunnel = await _client.OpenAsync(ToVip());
        var payload = RandomNumberGenerator.GetBytes(256 * 1024);
        var echoed = await Tunnels.RoundTripAsync(tunnel, payload);
        var saw = await _podSaw.Task.WaitAsync(ClientFixture.Deadline);

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
        Assert.Equal(WaypointSvid.Id, saw.Peer); // the pod's peer is the waypoint, not the client
        Assert.Equal(IPEndPoint.Parse("10.244.0.2:40690"), saw.For); // ...but Forwarded names the original client
        Assert.Equal("127.0.0.1:8080", saw.Authority);
        Assert.Equal(Hostname, saw.Host);
    }

    [Fact]
    public async Task An_identity_the_policy_does_not_allow_is_refused_401_and_reaches_nobody()
    {
        await using var intruder = ClientFixture.CreateClient(source: TestPki.Shared.Other);

        var refused = await Assert.ThrowsAsync<HboneConnectException>(() => intruder.OpenAsync(ToVip()));

        Assert.Equal(401, refused.ResponseStatus);
        Assert.False(_podSaw.Task.IsCompleted);
    }

    [Fact]
    public async Task A_pod_presenting_another_identity_than_the_service_s_is_refused_by_the_waypoint()
    {
        await using var strict = await StartWaypointAsync(SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/reviews"));

        var refused = await Assert.ThrowsAsync<HboneConnectException>(() => _client.OpenAsync(ToVip(strict)));

        Assert.Equal(503, refused.ResponseStatus);
        Assert.False(_podSaw.Task.IsCompleted);
    }

    [Fact]
    public async Task An_east_west_CONNECT_by_hostname_is_spliced_to_the_pod_and_the_inner_session_is_end_to_end()
    {
        var request = new HboneRequest
        {
            Destination = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 15008), // not dialed: the gateway is the next hop
            Authority = HboneAuthority.Parse($"{Hostname}:80"),
            ExpectedIdentities = [ClientFixture.ServerId], // the pod's identity, checked end to end through the gateway
            Gateway = new HboneGateway(_waypoint!.EndPoint, [ClientFixture.ServerId], Network: "network-a"),
        };

        await using var tunnel = await _client.OpenAsync(request);
        var echoed = await Tunnels.RoundTripAsync(tunnel, "across networks"u8.ToArray());
        var saw = await _podSaw.Task.WaitAsync(ClientFixture.Deadline);

        Assert.Equal("across networks"u8.ToArray(), echoed);
        Assert.Equal(TestPki.Shared.Client.Id, saw.Peer); // the gateway only spliced: the pod's peer is the client itself
        Assert.Equal($"{Hostname}:80", saw.Authority);
    }

    private HboneRequest ToVip(HboneTestServer? waypoint = null)
    {
        HboneRequest request = ClientFixture.Request((waypoint ?? _waypoint!).EndPoint, IPEndPoint.Parse(Vip));
        return new HboneRequest
        {
            Destination = request.Destination,
            Authority = request.Authority,
            ExpectedIdentities = request.ExpectedIdentities,
            ForwardedFor = request.ForwardedFor,
        };
    }

    /// <summary>The sample's handler on a real HBONE listener, fronting the pod as the service's only endpoint.</summary>
    private async Task<HboneTestServer> StartWaypointAsync(SpiffeId podIdentity)
    {
        var config = new WaypointConfig
        {
            Allow = [TestPki.Shared.Client.Id.ToString()],
            Services =
            [
                new WaypointService
                {
                    Hostname = Hostname,
                    Vip = Vip,
                    Endpoints = [new WaypointEndpoint { Address = "127.0.0.1:8080", Identity = podIdentity.ToString(), HbonePort = _pod!.EndPoint.Port }],
                },
            ],
        };
        var source = new InMemoryCertificateSource(WaypointSvid, TestPki.Shared.Ca.TrustBundle);
        _waypointClient ??= new HboneClient(new HboneClientOptions { Certificate = source });
        HboneClient client = _waypointClient;
        return await HboneTestServer.StartAsync(handler: b =>
        {
            b.Services.AddSingleton(new WaypointRouter(config));
            b.Services.AddSingleton(client);
            b.Services.AddSingleton<ISvidSource>(source);
            b.AddHandler<WaypointHandler>();
        });
    }
}
