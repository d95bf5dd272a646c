using System.Net;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.Lab;

/// <summary>The lab itself, without any mesh: routed pod-to-pod TCP across and within nodes, and a clean teardown.</summary>
public sealed class LabTopologyTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    [Trait("case", "LAB-01")]
    public async Task LAB_01_client_reaches_echo_on_the_other_node_and_echo_sees_the_client_pod_ip()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));

        using var client = await PodSockets.ConnectAsync(lab.Client.NetnsPath, new IPEndPoint(lab.Echo.Ip, lab.EchoTargetPort), Deadline);
        var reply = await PodSockets.ExchangeAsync(client, "hello across nodes"u8.ToArray(), Deadline);

        Assert.Equal("hello across nodes"u8.ToArray(), reply);
        Assert.Equal(lab.Client.Ip, (await echo.WaitForClientAsync(Deadline)).Address);
        Assert.Equal(IPAddress.Parse("10.244.1.2"), lab.Client.Ip);
    }

    [Fact]
    [Trait("case", "LAB-02")]
    public async Task LAB_02_down_leaves_no_namespace_with_the_prefix()
    {
        var lab = await MeshLab.UpAsync();
        string prefix = lab.Prefix;
        try
        {
            Assert.Equal(6, (await lab.ExistingNamespacesAsync()).Count);
        }
        finally
        {
            await lab.DisposeAsync();
        }

        Assert.Empty(await MeshLab.ExistingNamespacesAsync(prefix));
        Assert.False(Directory.Exists(lab.WorkDir));
    }

    [Fact]
    [Trait("case", "LAB-03")]
    public async Task LAB_03_same_node_pods_and_the_outsider_reach_each_other_with_their_own_ips()
    {
        await using var lab = await MeshLab.UpAsync();
        var localEcho = lab.Track(await EchoApp.StartAsync(lab.LocalEcho, lab.EchoTargetPort));
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));

        using (var client = await PodSockets.ConnectAsync(lab.Client.NetnsPath, new IPEndPoint(lab.LocalEcho.Ip, lab.EchoTargetPort), Deadline))
        {
            Assert.Equal("same node"u8.ToArray(), await PodSockets.ExchangeAsync(client, "same node"u8.ToArray(), Deadline));
        }

        using (var outsider = await PodSockets.ConnectAsync(lab.Outsider.NetnsPath, new IPEndPoint(lab.Echo.Ip, lab.EchoTargetPort), Deadline))
        {
            Assert.Equal("outsider"u8.ToArray(), await PodSockets.ExchangeAsync(outsider, "outsider"u8.ToArray(), Deadline));
        }

        Assert.Equal(lab.Client.Ip, (await localEcho.WaitForClientAsync(Deadline)).Address);
        Assert.Equal(lab.Outsider.Ip, (await echo.WaitForClientAsync(Deadline)).Address);
    }

    [Fact]
    [Trait("case", "LAB-04")]
    public async Task LAB_04_two_labs_with_different_prefixes_coexist()
    {
        await using var first = await MeshLab.UpAsync();
        await using var second = await MeshLab.UpAsync();
        var echo = second.Track(await EchoApp.StartAsync(second.Echo, second.EchoTargetPort));

        using var client = await PodSockets.ConnectAsync(second.Client.NetnsPath, new IPEndPoint(second.Echo.Ip, second.EchoTargetPort), Deadline);

        Assert.Equal("two labs"u8.ToArray(), await PodSockets.ExchangeAsync(client, "two labs"u8.ToArray(), Deadline));
        Assert.NotEqual(first.Prefix, second.Prefix);
        Assert.Equal(6, (await first.ExistingNamespacesAsync()).Count);
    }
}
