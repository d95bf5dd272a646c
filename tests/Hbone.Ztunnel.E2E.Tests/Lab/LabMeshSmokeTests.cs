using System.Net;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.Lab;

/// <summary>The fixtures with the real ztunnel: one request through the whole life of a packet.</summary>
public sealed class LabMeshSmokeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    [Trait("case", "LAB-09")]
    public async Task LAB_09_client_to_the_service_vip_crosses_both_ztunnels_and_echo_sees_the_client_ip()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await Mesh.StartAsync(lab, Deadline);

        byte[] reply;
        using (var client = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline))
        {
            reply = await PodSockets.ExchangeAsync(client, "through the mesh"u8.ToArray(), Deadline);
        }

        var seen = await echo.WaitForClientAsync(Deadline);
        var outbound = await mesh["node-a"].Ztunnel.WaitForLineAsync(l => l.Contains("direction=\"outbound\"", StringComparison.Ordinal), Deadline);
        var inbound = await mesh["node-b"].Ztunnel.WaitForLineAsync(l => l.Contains("direction=\"inbound\"", StringComparison.Ordinal), Deadline);
        var dump = await mesh["node-a"].Ztunnel.GetAsync("/config_dump");

        Assert.Equal("through the mesh"u8.ToArray(), reply);
        Assert.Equal(lab.Client.Ip, seen.Address);
        Assert.Contains($"dst.addr={lab.Echo.Ip}:15008", outbound, StringComparison.Ordinal);
        Assert.Contains("protocol=\"HBONE\"", outbound, StringComparison.Ordinal);
        Assert.Contains($"src.identity=\"{lab.Client.SpiffeId}\"", inbound, StringComparison.Ordinal);
        Assert.Contains(lab.LocalEcho.Uid, dump, StringComparison.Ordinal);
        Assert.Equal(IPAddress.Parse("10.96.0.10"), lab.EchoVip.Address);
    }
}
