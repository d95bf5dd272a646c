using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.MeshTests;

/// <summary>
/// A node proxy is ready only once its pods have their certificates: xDS alone is not enough, as ztunnel's readiness
/// waits for the local workloads' certificates too.
/// </summary>
public sealed class ControlPlaneReadinessTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    [Trait("case", "FT-02")]
    public async Task FT_02_while_the_CA_refuses_the_nodes_CSRs_the_ztunnel_has_its_pods_but_is_not_ready_until_the_CA_signs()
    {
        await using var lab = await MeshLab.UpAsync();
        var ca = await DevCa.CreateAsync(Path.Combine(lab.WorkDir, "ca"));
        var config = await lab.WriteConfigAsync();
        var nodeToken = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var controlPlane = lab.Track(ControlPlaneProcess.Start(lab.NodeA, config, ca, new Dictionary<string, string> { [lab.NodeA.Name] = nodeToken }));
        await controlPlane.WaitServingAsync(Deadline);
        var agent = lab.Track(AgentProcess.Start(lab.NodeA, lab.WorkDir));
        await agent.WaitListeningAsync(Deadline);
        var localPods = lab.Pods.Where(p => p.InMesh && p.Node == lab.NodeA).ToList();
        foreach (var pod in localPods)
        {
            await agent.EnrollAsync(pod);
        }

        // The development istiod authenticates CA calls only, so a token it does not know refuses every CSR while xDS serves.
        var tokenPath = Path.Combine(lab.WorkDir, "node-a-istio-token");
        await File.WriteAllTextAsync(tokenPath, "not-the-node-token");
        var ztunnel = lab.Track(ZtunnelProcess.Start(lab.NodeA, "", agent.SocketPath, ca, controlPlane.ZtunnelEnvironment(ca, tokenPath)));

        await controlPlane.WaitForLineAsync(l => l.Contains("ca: refused (Unauthenticated)", StringComparison.Ordinal), Deadline);
        var identities = localPods.Select(p => p.SpiffeId).Order(StringComparer.Ordinal).ToList();
        await Lifecycle.UntilAsync(async () => HasPodsAndRefusedCertificates(await ControlPlaneTests.DumpAsync(ztunnel), localPods, identities), Deadline,
            "xDS delivering the node's pods while their certificates are refused");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await ReadinessAsync(ztunnel));

        // The token file is read again on every call: the right token lets the next retry through, and nothing else changes.
        var replacement = tokenPath + ".new";
        await File.WriteAllTextAsync(replacement, nodeToken);
        File.Move(replacement, tokenPath, overwrite: true);
        await ztunnel.WaitReadyAsync(Deadline);

        Assert.Equal(HttpStatusCode.OK, await ReadinessAsync(ztunnel));
        var certificates = (await ControlPlaneTests.DumpAsync(ztunnel)).GetProperty("certificates").EnumerateArray().ToList();
        Assert.Equal(identities, certificates.Select(c => c.GetProperty("identity").GetString()!));
        Assert.All(certificates, c => Assert.Equal("Available", c.GetProperty("state").GetString()));
        foreach (var identity in identities)
        {
            Assert.Contains(controlPlane.Lines, l => l.Contains($"ca: issued identity={identity} node={lab.NodeA.Name}", StringComparison.Ordinal));
        }
    }

    // Every local pod is handed over and in the config, and every local identity has a certificate entry, none of them available.
    private static bool HasPodsAndRefusedCertificates(JsonElement dump, IReadOnlyList<LabPod> pods, IReadOnlyList<string> identities)
    {
        var uids = dump.GetProperty("workloads").EnumerateArray().Select(w => w.GetProperty("uid").GetString()).ToHashSet();
        var enrolled = dump.GetProperty("pods").EnumerateArray().Where(p => p.GetProperty("state").GetString() == "Up").Select(p => p.GetProperty("uid").GetString()).ToHashSet();
        var certificates = dump.GetProperty("certificates").EnumerateArray().ToList();
        return dump.GetProperty("xds").GetProperty("ready").GetBoolean()
            && pods.All(p => uids.Contains(p.Uid) && enrolled.Contains(p.Uid))
            && certificates.Select(c => c.GetProperty("identity").GetString()).SequenceEqual(identities)
            && certificates.All(c => c.GetProperty("state").GetString()!.StartsWith("Unavailable", StringComparison.Ordinal));
    }

    private static async Task<HttpStatusCode> ReadinessAsync(ZtunnelProcess ztunnel)
    {
        try
        {
            await ztunnel.GetAsync(ZtunnelProcess.ReadinessPort, "/healthz/ready");
            return HttpStatusCode.OK;
        }
        catch (HttpRequestException ex) when (ex.StatusCode is { } status)
        {
            return status;
        }
    }
}
