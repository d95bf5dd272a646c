using System.Net;
using System.Text.Json;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.MeshTests;

/// <summary>
/// Both ztunnels joined to the development istiod (samples/ControlPlane) as to a real one: workloads, services and
/// policies over delta xDS, every pod certificate from its CA over gRPC, a bearer token per node.
/// </summary>
public sealed class ControlPlaneTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private const string LateUid = "cluster1//v1/Pod/default/late";

    [Fact]
    [Trait("case", "FT-01")]
    public async Task FT_01_losing_istiod_keeps_tunnels_config_and_certificates_and_the_ztunnels_resync_after_it_returns()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var (mesh, controlPlane, start) = await StartAsync(lab);

        // Certificates came from the control plane's CA and xDS filled the state.
        var dumpB = await DumpAsync(mesh["node-b"].Ztunnel);
        var echoCert = dumpB.GetProperty("certificates").EnumerateArray().Single(c => c.GetProperty("identity").GetString() == "spiffe://cluster.local/ns/default/sa/echo");
        Assert.Equal("Available", echoCert.GetProperty("state").GetString());
        Assert.Contains(controlPlane.Lines, l => l.Contains("ca: issued identity=spiffe://cluster.local/ns/default/sa/echo node=node-b", StringComparison.Ordinal));
        var xds = dumpB.GetProperty("xds");
        Assert.Equal(("Connected", true, 0L), (xds.GetProperty("state").GetString(), xds.GetProperty("ready").GetBoolean(), xds.GetProperty("nacks").GetInt64()));
        Assert.True(xds.GetProperty("acks").GetInt64() >= 2);
        var certificates = await LocalCertificatesAsync(lab, mesh);
        Assert.All(certificates.Values, c => Assert.Equal("Available", c.State));
        var issued = controlPlane.Lines.Count(IsIssued);
        Assert.Equal(certificates.Count, issued);

        // The pods' certificates were prefetched: the first tunnel sends no CSR.
        using var tunnel = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline);
        Assert.Equal("before"u8.ToArray(), await Lifecycle.EchoAsync(tunnel, "before"u8.ToArray(), Deadline));
        Assert.Equal(issued, controlPlane.Lines.Count(IsIssued));

        // istiod goes away: the open tunnel, a new connection and the config all stay.
        Assert.Equal(0, await controlPlane.StopAsync(Deadline));
        await mesh["node-a"].Ztunnel.WaitForLineAsync(l => l.Contains("xDS stream", StringComparison.Ordinal) && l.Contains("disconnected", StringComparison.Ordinal), Deadline);
        Assert.Equal("while away"u8.ToArray(), await Lifecycle.EchoAsync(tunnel, "while away"u8.ToArray(), Deadline));
        using (var fresh = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline))
        {
            Assert.Equal("new while away"u8.ToArray(), await PodSockets.ExchangeAsync(fresh, "new while away"u8.ToArray(), Deadline));
        }

        Assert.Equal(4, (await DumpAsync(mesh["node-a"].Ztunnel)).GetProperty("workloads").GetArrayLength());
        // Still the certificates issued before the outage (same serials), still available.
        Assert.Equal(certificates, await LocalCertificatesAsync(lab, mesh));

        // It returns with a changed mesh: both ztunnels reconnect and converge on it.
        await File.WriteAllTextAsync(start.ConfigPath, LifecycleConfig.WithWorkload(await File.ReadAllTextAsync(start.ConfigPath), LateUid, "late", IPAddress.Parse("10.244.1.99"), "node-a", "late"));
        var restarted = lab.Track(ControlPlaneProcess.Start(lab.NodeA, start.ConfigPath, start.CaDirectory, start.Tokens));
        await restarted.WaitServingAsync(Deadline);
        foreach (var node in mesh.Values)
        {
            await Lifecycle.UntilAsync(async () => (await DumpAsync(node.Ztunnel)).GetProperty("workloads").EnumerateArray().Any(w => w.GetProperty("uid").GetString() == LateUid), Deadline, $"{node.Node.Name} converging on the new workload");
        }

        Assert.Equal("after"u8.ToArray(), await Lifecycle.EchoAsync(tunnel, "after"u8.ToArray(), Deadline));
        Assert.Equal(lab.Client.Ip, (await echo.WaitForClientAsync(Deadline)).Address);
        var traces = mesh.Values.SelectMany(n => n.Ztunnel.Lines).Where(l => l.Contains("   at ", StringComparison.Ordinal)).ToList();
        Assert.True(traces.Count == 0, string.Join('\n', mesh["node-a"].Ztunnel.Lines.Take(60)));
    }

    [Fact]
    [Trait("case", "FT-02")]
    public async Task FT_02_without_a_reachable_istiod_the_ztunnel_is_not_ready_and_keeps_retrying()
    {
        await using var lab = await MeshLab.UpAsync();
        var ca = await DevCa.CreateAsync(Path.Combine(lab.WorkDir, "ca"));
        var agent = lab.Track(AgentProcess.Start(lab.NodeA, lab.WorkDir));
        await agent.WaitListeningAsync(Deadline);
        await agent.EnrollAsync(lab.Client);
        var token = Path.Combine(lab.WorkDir, "token");
        await File.WriteAllTextAsync(token, "t");
        var environment = new Dictionary<string, string?>(ControlPlaneProcess.ZtunnelEnvironmentFor(new Uri($"https://{lab.NodeA.Ip}:{ControlPlaneProcess.Port}"), ca, token));
        var ztunnel = lab.Track(ZtunnelProcess.Start(lab.NodeA, "", agent.SocketPath, ca, environment));

        // Two failed attempts prove it retries; readiness stays 503 meanwhile, and nothing crashes.
        await ztunnel.WaitForLineAsync(l => l.Contains("xDS stream", StringComparison.Ordinal) && l.Contains("reconnecting", StringComparison.Ordinal), Deadline);
        var attempts = ztunnel.Lines.Count(l => l.Contains("reconnecting", StringComparison.Ordinal));
        await ztunnel.WaitForLineAsync(l => l.Contains("reconnecting", StringComparison.Ordinal) && ztunnel.Lines.Count(x => x.Contains("reconnecting", StringComparison.Ordinal)) > attempts, Deadline);
        // The readiness port opens after the first attempts: poll until it answers, then it must say 503.
        HttpRequestException? notReady = null;
        await Lifecycle.UntilAsync(async () =>
        {
            try
            {
                await ztunnel.GetAsync(ZtunnelProcess.ReadinessPort, "/healthz/ready");
                return true;
            }
            catch (HttpRequestException ex) when (ex.StatusCode is not null)
            {
                notReady = ex;
                return true;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, Deadline, "the readiness port answering");

        Assert.False(ztunnel.HasExited);
        Assert.True(notReady?.StatusCode == HttpStatusCode.ServiceUnavailable, notReady?.Message ?? "the ztunnel answered ready without istiod");
        Assert.Empty((await DumpAsync(ztunnel)).GetProperty("workloads").EnumerateArray());
        Assert.DoesNotContain(ztunnel.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    private sealed record ControlPlaneStart(string ConfigPath, string CaDirectory, IReadOnlyDictionary<string, string> Tokens);

    // The demo's wiring: the CA, the control plane in node-a, agents, enrolled pods, both ztunnels on xDS and the CA.
    private static async Task<(IReadOnlyDictionary<string, MeshNode> Mesh, ControlPlaneProcess ControlPlane, ControlPlaneStart Start)> StartAsync(MeshLab lab)
    {
        var ca = await DevCa.CreateAsync(Path.Combine(lab.WorkDir, "ca"));
        var config = await lab.WriteConfigAsync();
        LabNode[] nodes = [lab.NodeA, lab.NodeB];
        var tokens = nodes.ToDictionary(n => n.Name, n => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)));
        var controlPlane = lab.Track(ControlPlaneProcess.Start(lab.NodeA, config, ca, tokens));
        await controlPlane.WaitServingAsync(Deadline);

        var agents = nodes.ToDictionary(n => n.Name, n => lab.Track(AgentProcess.Start(n, lab.WorkDir)));
        foreach (var agent in agents.Values)
        {
            await agent.WaitListeningAsync(Deadline);
        }

        foreach (var pod in lab.Pods.Where(p => p.InMesh))
        {
            await agents[pod.Node.Name].EnrollAsync(pod);
        }

        var ztunnels = new Dictionary<string, ZtunnelProcess>();
        foreach (var node in nodes)
        {
            var tokenPath = Path.Combine(lab.WorkDir, $"{node.Name}-istio-token");
            await File.WriteAllTextAsync(tokenPath, tokens[node.Name]);
            ztunnels[node.Name] = lab.Track(ZtunnelProcess.Start(node, "", agents[node.Name].SocketPath, ca, controlPlane.ZtunnelEnvironment(ca, tokenPath)));
        }

        foreach (var ztunnel in ztunnels.Values)
        {
            await ztunnel.WaitReadyAsync(Deadline);
        }

        return (nodes.ToDictionary(n => n.Name, n => new MeshNode(n, agents[n.Name], ztunnels[n.Name])), controlPlane, new ControlPlaneStart(config, ca, tokens));
    }

    /// <summary>The <c>/config_dump</c> of <paramref name="ztunnel"/>.</summary>
    internal static async Task<JsonElement> DumpAsync(ZtunnelProcess ztunnel) =>
        JsonDocument.Parse(await ztunnel.GetAsync("/config_dump")).RootElement.Clone();

    /// <summary>The state and leaf serial of each in-mesh pod's certificate, as its node's ztunnel holds it; a ztunnel holding any other identity fails.</summary>
    private static async Task<Dictionary<string, (string State, string Serial)>> LocalCertificatesAsync(MeshLab lab, IReadOnlyDictionary<string, MeshNode> mesh)
    {
        var result = new Dictionary<string, (string State, string Serial)>();
        foreach (var (name, node) in mesh)
        {
            var held = (await DumpAsync(node.Ztunnel)).GetProperty("certificates").EnumerateArray().ToList();
            var local = lab.Pods.Where(p => p.InMesh && p.Node.Name == name).Select(p => p.SpiffeId).Order(StringComparer.Ordinal);
            Assert.Equal(local, held.Select(c => c.GetProperty("identity").GetString()!));
            foreach (var certificate in held)
            {
                var leaf = certificate.GetProperty("certChain")[0];
                result[$"{name} {certificate.GetProperty("identity").GetString()}"] = (certificate.GetProperty("state").GetString()!, leaf.GetProperty("serialNumber").GetString()!);
            }
        }

        return result;
    }

    private static bool IsIssued(string controlPlaneLine) => controlPlaneLine.Contains("ca: issued identity=", StringComparison.Ordinal);
}
