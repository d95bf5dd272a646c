using System.Collections;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Istio.Tests.ControlPlane;
using Hbone.Istio.Xds;
using Hbone.Kestrel;
using Hbone.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Waypoint;
using Waypoint.Mesh;

namespace Hbone.Istio.Tests.Samples;

/// <summary>
/// samples/Waypoint joined to the development control plane over real gRPC + TLS, as its Program does with XDS_ADDRESS
/// set: its SVID from the CA, its services from delta xDS, a client's CONNECT to a service VIP re-originated to the
/// service's pod (a real HBONE server), and YAML changes seen while it runs.
/// </summary>
public sealed class WaypointMeshTests : IAsyncLifetime
{
    private const string Hostname = "reviews.default.svc.cluster.local";
    private const string Vip = "10.96.0.40:80";
    private static readonly SpiffeId WaypointId = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/waypoint");
    private static readonly TimeSpan Deadline = DevControlPlaneTestBed.Deadline;

    private readonly List<MeshPod> _pods = [];
    private DevControlPlaneTestBed _bed = null!;
    private WaypointMesh _mesh = null!;
    private WebApplication _waypoint = null!;
    private IPEndPoint _waypointEndPoint = null!;
    private HboneClient _client = null!;

    public async Task InitializeAsync()
    {
        _bed = await DevControlPlaneTestBed.StartAsync(Yaml(withService: false));
        _pods.Add(await StartPodAsync());
        await ReloadAsync(Yaml(withService: true, _pods[0]));

        // What Program reads when XDS_ADDRESS is set (no AUTH_TOKEN: the control plane runs without tokens).
        var env = new Hashtable
        {
            ["XDS_ADDRESS"] = $"https://{_bed.Host.Endpoints[0]}",
            ["XDS_ROOT_CA"] = _bed.RootCertificatePath,
            ["CA_ROOT_CA"] = _bed.RootCertificatePath,
            ["POD_NAMESPACE"] = "default",
            ["SERVICE_ACCOUNT"] = "waypoint",
            ["POD_NAME"] = "waypoint-0",
            ["INSTANCE_IP"] = "127.0.0.1",
        };
        using var joining = new CancellationTokenSource(Deadline);
        _mesh = await WaypointMesh.JoinAsync(WaypointMeshOptions.FromEnvironment(env)!, loggers: null, joining.Token);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddWaypoint(_mesh.Identity, _mesh.Certificates, new WaypointRouter(_mesh.Services, []));
        builder.WebHost.UseKestrel(k => k.ListenHbone(IPAddress.Loopback, 0));
        _waypoint = builder.Build();
        await _waypoint.StartAsync();
        var address = _waypoint.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _waypointEndPoint = new IPEndPoint(IPAddress.Loopback, new Uri(address).Port);

        var client = _bed.Ca.IssueIstio("default", "client");
        _client = new HboneClient(new HboneClientOptions { Certificate = new InMemoryCertificateSource(client, _bed.Ca.TrustBundle) });
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _waypoint.StopAsync();
        await _waypoint.DisposeAsync();
        await _mesh.DisposeAsync();
        foreach (MeshPod pod in _pods)
        {
            await pod.DisposeAsync();
        }

        await _bed.DisposeAsync();
    }

    [Fact]
    [Trait("case", "WP-05")]
    public void The_waypoint_s_certificate_comes_from_the_CA_for_its_own_identity_and_chains_to_the_mesh_root()
    {
        Svid svid = _mesh.Identity.GetSvid();

        Assert.Equal(WaypointId, svid.Id);
        using var chain = new X509Chain
        {
            ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, CustomTrustStore = { _bed.Ca.RootCertificate } },
        };
        Assert.True(chain.Build(svid.Certificate), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal(_bed.Ca.RootCertificate.Thumbprint, Assert.Single(_mesh.Certificates.GetTrustBundle().Roots).Thumbprint);
    }

    [Fact]
    [Trait("case", "WP-06")]
    public async Task A_CONNECT_to_a_service_VIP_learned_over_xDS_reaches_the_service_s_pod_through_the_waypoint_s_own_tunnel()
    {
        byte[] payload = RandomNumberGenerator.GetBytes(256 * 1024);

        byte[] echoed = await RoundTripAsync(payload);

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
        var seen = Assert.Single(_pods[0].Seen);
        Assert.Equal(WaypointId, seen.Peer); // the pod's peer is the waypoint, with the certificate the CA gave it
        Assert.Equal(IPAddress.Loopback, seen.For?.Address); // ...and Forwarded names the original client
        Assert.Equal(Hostname, seen.Host);
        Assert.Equal($"{_pods[0].Address}:8080", seen.Authority);
    }

    [Fact]
    [Trait("case", "WP-07")]
    public async Task An_endpoint_added_to_the_YAML_is_routed_to_without_a_restart()
    {
        _pods.Add(await StartPodAsync());

        await ReloadAsync(Yaml(withService: true, _pods[0], _pods[1]));
        await ServicesAsync(services => services.Count == 1 && services[0].Endpoints.Count == 2, "the second endpoint");
        await RoundTripAsync("first"u8.ToArray());
        await RoundTripAsync("second"u8.ToArray());

        Assert.Equal(new[] { 1, 1 }, _pods.Select(p => p.Seen.Count)); // round robin over both pods
        Assert.All(_pods, p => Assert.Equal($"{p.Address}:8080", Assert.Single(p.Seen).Authority));
    }

    [Fact]
    [Trait("case", "WP-08")]
    public async Task A_service_removed_from_the_YAML_is_refused_503_without_a_restart()
    {
        await RoundTripAsync("before"u8.ToArray());

        await ReloadAsync(Yaml(withService: false, _pods[0]));
        await ServicesAsync(services => services.Count == 0, "the service's removal");
        var refused = await Assert.ThrowsAsync<HboneConnectException>(() => RoundTripAsync("after"u8.ToArray()));

        Assert.Equal(503, refused.ResponseStatus);
        Assert.Single(_pods[0].Seen); // only the tunnel from before the change
    }

    private async Task<MeshPod> StartPodAsync() =>
        await MeshPod.StartAsync(new InMemoryCertificateSource(_bed.Ca.IssueIstio("default", "reviews"), _bed.Ca.TrustBundle));

    /// <summary>Opens a tunnel to the VIP through the waypoint, writes, half-closes and reads the echo to its end.</summary>
    private async Task<byte[]> RoundTripAsync(byte[] payload)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        await using HboneStream tunnel = await _client.ConnectAsync(new HboneRequest
        {
            Destination = _waypointEndPoint,
            Authority = HboneAuthority.Parse(Vip),
            ExpectedIdentities = [WaypointId],
        }, deadline.Token);
        var echoed = new MemoryStream();
        Task reading = tunnel.CopyToAsync(echoed, deadline.Token);
        await tunnel.WriteAsync(payload, deadline.Token);
        await tunnel.CompleteWritesAsync();
        await reading;
        return echoed.ToArray();
    }

    private async Task ReloadAsync(string yaml)
    {
        Task<string?> reloaded = _bed.NextReloadAsync();
        _bed.WriteConfig(yaml);
        Assert.Null(await reloaded);
    }

    /// <summary>Completes when the waypoint's services (from xDS) meet <paramref name="condition"/>.</summary>
    private async Task ServicesAsync(Func<IReadOnlyList<WaypointService>, bool> condition, string what)
    {
        var met = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(object? sender, MeshSnapshot snapshot)
        {
            if (condition(MeshServiceSource.Convert(snapshot, "cluster.local")))
            {
                met.TrySetResult();
            }
        }

        _mesh.State.Changed += OnChanged;
        try
        {
            if (!condition(_mesh.Services.Services))
            {
                await met.Task.WaitAsync(Deadline).ConfigureAwait(false);
            }
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"the waypoint did not see {what} within {Deadline}");
        }
        finally
        {
            _mesh.State.Changed -= OnChanged;
        }

        Assert.True(condition(_mesh.Services.Services));
    }

    private static string Yaml(bool withService, params MeshPod[] pods)
    {
        string workloads = pods.Length == 0 ? "workloads: []" : "workloads:\n" + string.Concat(pods.Select((pod, i) => $$"""
            - uid: cluster1//v1/Pod/default/reviews-{{i}}
              name: reviews-{{i}}
              namespace: default
              serviceAccount: reviews
              workloadIps: ["{{pod.Address}}"]
              protocol: HBONE
              node: node-a
              services: { "default/{{Hostname}}": { 80: 8080 } }

            """));
        string services = withService ? $$"""
            services:
            - name: reviews
              namespace: default
              hostname: {{Hostname}}
              vips: ["/10.96.0.40"]
              ports: { 80: 8080 }
            """ : "services: []";
        return workloads + "\n" + services + "\n";
    }
}
