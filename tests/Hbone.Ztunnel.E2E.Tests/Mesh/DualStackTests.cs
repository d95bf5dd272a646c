using System.Net;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.MeshTests;

/// <summary>
/// IPv6 through the mesh on the dual-stack lab: the client pod dials the echo service's IPv6 VIP and the echo pod's IPv6
/// address; ip6tables captures it, HBONE goes to [v6]:15008, and the echo app sees the client's IPv6 address.
/// </summary>
public sealed class DualStackTests(DualStackTests.Fixture fixture) : IClassFixture<DualStackTests.Fixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    [Trait("case", "INT-02")]
    public async Task An_IPv6_VIP_is_captured_carried_over_HBONE_to_the_pod_s_IPv6_15008_and_the_app_sees_the_client_s_IPv6_address()
    {
        MeshLab lab = fixture.Lab;
        int before = fixture.Echo.Clients.Count;
        byte[] reply;
        using (var client = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip6, Deadline))
        {
            reply = await PodSockets.ExchangeAsync(client, "over IPv6"u8.ToArray(), Deadline);
        }

        var seen = await fixture.Echo.WaitForClientAsync(Deadline, before + 1);
        var outbound = await fixture.NodeA.WaitForLineAsync(l => l.Contains("direction=\"outbound\"", StringComparison.Ordinal) && l.Contains($"dst.addr=[{lab.Echo.Ip6}]:15008", StringComparison.Ordinal), Deadline);
        var inbound = await fixture.NodeB.WaitForLineAsync(l => l.Contains("direction=\"inbound\"", StringComparison.Ordinal) && l.Contains($"src.addr=[{lab.Client.Ip6}]", StringComparison.Ordinal), Deadline);

        Assert.Equal("over IPv6"u8.ToArray(), reply);
        Assert.Equal(lab.Client.Ip6, seen.Address);
        Assert.Contains("protocol=\"HBONE\"", outbound, StringComparison.Ordinal);
        Assert.Contains($"src.identity=\"{lab.Client.SpiffeId}\"", inbound, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "INT-02")]
    public async Task A_pod_s_IPv6_address_is_reached_over_HBONE_with_the_client_s_IPv6_source_kept()
    {
        MeshLab lab = fixture.Lab;
        int before = fixture.Echo.Clients.Count;
        byte[] reply;
        using (var client = await PodSockets.ConnectAsync(lab.Client.NetnsPath, new IPEndPoint(lab.Echo.Ip6, lab.EchoTargetPort), Deadline))
        {
            reply = await PodSockets.ExchangeAsync(client, "pod to pod"u8.ToArray(), Deadline);
        }

        Assert.Equal("pod to pod"u8.ToArray(), reply);
        Assert.Equal(lab.Client.Ip6, (await fixture.Echo.WaitForClientAsync(Deadline, before + 1)).Address);
    }

    /// <summary>The lab with the mesh running and an IPv6 echo app ([::]:8080) in the echo pod.</summary>
    public sealed class Fixture : MeshLabFixture
    {
        private IReadOnlyDictionary<string, MeshNode>? _mesh;

        internal EchoApp Echo { get; private set; } = null!;

        internal ZtunnelProcess NodeA => _mesh!["node-a"].Ztunnel;

        internal ZtunnelProcess NodeB => _mesh!["node-b"].Ztunnel;

        private protected override async Task SetUpAsync(MeshLab lab)
        {
            Echo = lab.Track(await EchoApp.StartAsync(lab.Echo.NetnsPath, new IPEndPoint(IPAddress.IPv6Any, lab.EchoTargetPort)));
            _mesh = await Infrastructure.Mesh.StartAsync(lab, Deadline);
        }
    }
}
