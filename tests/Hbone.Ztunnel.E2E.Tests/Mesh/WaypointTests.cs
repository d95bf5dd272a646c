using System.Net;
using System.Text.Json;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.MeshTests;

/// <summary>
/// The echo service behind a waypoint (samples/Waypoint, in node-b's namespace on 192.168.254.2:15088): the client
/// ztunnel sends the service's traffic to it expecting the waypoint's identity, the waypoint applies its policy and
/// opens its own tunnel to the echo pod with the client in Forwarded, and the echo pod only accepts the waypoint.
/// </summary>
public sealed class WaypointTests(WaypointTests.Fixture fixture) : IClassFixture<WaypointTests.Fixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(5);
    private const string WaypointIdentity = "spiffe://cluster.local/ns/default/sa/waypoint";

    [Fact]
    [Trait("case", "WP-01")]
    public async Task Through_the_waypoint_the_server_sees_the_original_client()
    {
        int before = fixture.Echo.Clients.Count;
        var nodeB = TrafficLog.Mark(fixture.NodeB);
        byte[] reply;
        using (var client = await PodSockets.ConnectAsync(fixture.Lab.Client.NetnsPath, fixture.Lab.EchoVip, Deadline))
        {
            reply = await PodSockets.ExchangeAsync(client, "via the waypoint"u8.ToArray(), Deadline);
        }

        var seen = await fixture.Echo.WaitForClientAsync(Deadline, before + 1);
        var outbound = await fixture.NodeA.WaitForLineAsync(l => l.Contains($"dst.addr={Fixture.WaypointIp}:{Fixture.WaypointPort}", StringComparison.Ordinal), Deadline);
        var inbound = TrafficLog.Fields(await nodeB.WaitForLineAsync(
            l => TrafficLog.IsAccessLine(l) && l.Contains("direction=\"inbound\"", StringComparison.Ordinal) && l.Contains($"src.identity=\"{WaypointIdentity}\"", StringComparison.Ordinal),
            Deadline));

        Assert.Equal("via the waypoint"u8.ToArray(), reply);
        Assert.Equal(fixture.Lab.Client.Ip, seen.Address);
        Assert.Contains($"dst.identity=\"{WaypointIdentity}\"", outbound, StringComparison.Ordinal);

        // The destination's own waypoint may name the client: the access log shows the same client the app saw.
        Assert.Equal(seen.Address, IPEndPoint.Parse(inbound["src.addr"]).Address);
    }

    [Fact]
    [Trait("case", "WP-02")]
    public async Task The_waypoint_s_policy_refuses_an_identity_it_does_not_allow()
    {
        int before = fixture.Echo.Clients.Count;
        var outcome = await Lifecycle.ProbeAsync(fixture.Lab.LocalEcho.NetnsPath, fixture.Lab.EchoVip, "not me"u8.ToArray(), Short);

        await fixture.Waypoint.WaitForLineAsync(l => l.Contains("401", StringComparison.Ordinal) && l.Contains("local-echo", StringComparison.Ordinal), Deadline);
        Assert.NotEqual(LifecycleReadOutcome.Data, outcome.Outcome);
        Assert.Equal(before, fixture.Echo.Clients.Count);
    }

    [Fact]
    [Trait("case", "WP-03")]
    public async Task The_workload_behind_the_waypoint_refuses_a_direct_connection_that_skipped_it()
    {
        int before = fixture.Echo.Clients.Count;
        var outcome = await Lifecycle.ProbeAsync(fixture.Lab.Client.NetnsPath, new IPEndPoint(fixture.Lab.Echo.Ip, fixture.Lab.EchoTargetPort), "around it"u8.ToArray(), Short);

        await fixture.NodeB.WaitForLineAsync(l => l.Contains("direction=\"inbound\"", StringComparison.Ordinal) && l.Contains("error=", StringComparison.Ordinal) && l.Contains("sa/client", StringComparison.Ordinal), Deadline);
        Assert.NotEqual(LifecycleReadOutcome.Data, outcome.Outcome);
        Assert.Equal(before, fixture.Echo.Clients.Count);
    }

    [Fact]
    [Trait("case", "WP-04")]
    public async Task A_listener_presenting_another_identity_in_place_of_the_waypoint_is_refused_by_the_client_ztunnel()
    {
        int before = fixture.Echo.Clients.Count;
        var outcome = await Lifecycle.ProbeAsync(fixture.Lab.Client.NetnsPath, Fixture.ImpostorVip, "to whom?"u8.ToArray(), Short);

        var refused = await fixture.NodeA.WaitForLineAsync(l => l.Contains($"dst.addr={Fixture.WaypointIp}:{Fixture.ImpostorPort}", StringComparison.Ordinal), Deadline);
        Assert.NotEqual(LifecycleReadOutcome.Data, outcome.Outcome);
        Assert.Contains("error=", refused, StringComparison.Ordinal);
        Assert.Equal(0, fixture.Impostor.Lines.Count(l => l.Contains("status=200", StringComparison.Ordinal)));
        Assert.Equal(before, fixture.Echo.Clients.Count);
    }

    /// <summary>The lab with echo behind the waypoint, the sample running, and an impostor on a second waypoint port.</summary>
    public sealed class Fixture : MeshLabFixture
    {
        public const string WaypointIp = "192.168.254.2";
        public const int WaypointPort = 15088;
        public const int ImpostorPort = 15089;
        public static readonly IPEndPoint ImpostorVip = IPEndPoint.Parse("10.96.0.11:80");
        private IReadOnlyDictionary<string, MeshNode>? _mesh;

        internal EchoApp Echo { get; private set; } = null!;

        internal NodeProcess Waypoint { get; private set; } = null!;

        internal NodeProcess Impostor { get; private set; } = null!;

        internal ZtunnelProcess NodeA => _mesh!["node-a"].Ztunnel;

        internal ZtunnelProcess NodeB => _mesh!["node-b"].Ztunnel;

        private static string Dll => Path.Combine(Repo.Root, "samples", "Waypoint", "bin", Repo.Configuration, "net10.0", "Waypoint.dll");

        private protected override async Task SetUpAsync(MeshLab lab)
        {
            Echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
            _mesh = await Infrastructure.Mesh.StartAsync(lab, Deadline, editConfig: WithImpostorService, configOptions: ["--waypoint", $"{WaypointIp}:{WaypointPort}"]);
            string ca = Path.Combine(lab.WorkDir, "ca");
            string config = Path.Combine(lab.WorkDir, "waypoint.json");
            await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
            {
                allow = new[] { lab.Client.SpiffeId },
                services = new[]
                {
                    new
                    {
                        hostname = "echo.default.svc.cluster.local",
                        vip = lab.EchoVip.ToString(),
                        endpoints = new[] { new { address = $"{lab.Echo.Ip}:{lab.EchoTargetPort}", identity = lab.Echo.SpiffeId } },
                    },
                },
            }));
            Waypoint = lab.Track(NodeProcess.Start("waypoint", lab.NodeB, Dll, [config, ca, "waypoint", $"{WaypointIp}:{WaypointPort}"]));
            Impostor = lab.Track(NodeProcess.Start("impostor", lab.NodeB, Dll, [config, ca, "impostor", $"{WaypointIp}:{ImpostorPort}"]));
            await Waypoint.WaitForLineAsync(l => l.Contains("Now listening", StringComparison.Ordinal), Deadline);
            await Impostor.WaitForLineAsync(l => l.Contains("Now listening", StringComparison.Ordinal), Deadline);
        }

        /// <summary>A second service sent to the impostor's port; the waypoint workload at that IP still names who must answer.</summary>
        private static string WithImpostorService(string yaml)
        {
            const string Policies = "policies:\n";
            if (!yaml.Contains(Policies, StringComparison.Ordinal))
            {
                throw new InvalidOperationException("the lab config has no policies section: update WaypointTests.WithImpostorService");
            }

            return yaml.Replace(Policies, $$"""
                - name: echo-impostor
                  namespace: default
                  hostname: echo-impostor.default.svc.cluster.local
                  vips: ["/{{ImpostorVip.Address}}"]
                  ports: { 80: 8080 }
                  waypoint: { destination: "/{{WaypointIp}}", hboneMtlsPort: {{ImpostorPort}} }

                """ + Policies, StringComparison.Ordinal);
        }
    }
}
