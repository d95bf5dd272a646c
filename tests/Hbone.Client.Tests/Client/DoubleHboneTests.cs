using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Identity;
using Hbone.Kestrel;
using Hbone.Kestrel.Tests.Infrastructure;
using Hbone.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Hbone.Client.Tests.Client;

/// <summary>
/// Double HBONE (hbone-reference.md §1): an outer CONNECT to an east-west gateway, and inside that stream a
/// second TLS + HTTP/2 connection to the final workload carrying the inner CONNECT with x-forwarded-network.
/// </summary>
public sealed class DoubleHboneTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Tunnel_through_a_gateway_reaches_the_workload_with_end_to_end_TLS_and_the_origin_network()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);

        // The final workload's HBONE server: resolves the hostname authority to the echo upstream.
        var innerSeen = new TaskCompletionSource<(string? Network, string Authority, SpiffeId Peer)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var workload = await HboneTestServer.StartAsync(handler: b => b.AddHandler(async ctx =>
        {
            innerSeen.TrySetResult((string.Join(",", ctx.RequestHeaders.Where(h => h.Key == HboneHeaders.ForwardedNetwork).Select(h => h.Value)), ctx.Authority.ToString(), ctx.PeerIdentity));
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(upstream.EndPoint, ctx.Aborted);
            var tunnel = await ctx.AcceptAsync(ctx.Aborted);
            ctx.SetOutcome(await tunnel.CopyToAsync(socket));
        }));

        // The gateway: sees only the outer CONNECT (hostname authority) and relays raw bytes to the workload's HBONE port.
        var outerSeen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var gateway = await HboneTestServer.StartAsync(handler: b => b.AddHandler(async ctx =>
        {
            outerSeen.TrySetResult(ctx.Authority.ToString());
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(workload.EndPoint, ctx.Aborted);
            var tunnel = await ctx.AcceptAsync(ctx.Aborted);
            ctx.SetOutcome(await tunnel.CopyToAsync(socket));
        }));

        await using var client = ClientFixture.CreateClient();
        var request = new HboneRequest
        {
            Destination = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 15008), // not dialed: the gateway is the next hop
            Authority = HboneAuthority.Parse("echo.remote.svc.cluster.local:8080"),
            ExpectedIdentities = [ClientFixture.ServerId],
            Gateway = new HboneGateway(gateway.EndPoint, [ClientFixture.ServerId], Network: "network-a"),
        };

        await using var tunnel = await client.ConnectAsync(request).AsTask().WaitAsync(Deadline);
        var payload = RandomNumberGenerator.GetBytes(512 * 1024);
        var reader = Task.Run(async () =>
        {
            var output = new MemoryStream();
            await tunnel.CopyToAsync(output);
            return output.ToArray();
        });
        await tunnel.WriteAsync(payload);
        await tunnel.CompleteWritesAsync();

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(await reader.WaitAsync(Deadline)));
        Assert.Equal("echo.remote.svc.cluster.local:8080", await outerSeen.Task.WaitAsync(Deadline));
        var inner = await innerSeen.Task.WaitAsync(Deadline);
        Assert.Equal("network-a", inner.Network);
        Assert.Equal("echo.remote.svc.cluster.local:8080", inner.Authority);
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", inner.Peer.ToString());
    }

    [Fact]
    [Trait("case", "ID-08")]
    public async Task Inner_TLS_checks_the_final_workload_identity_not_the_gateway()
    {
        await using var workload = await HboneTestServer.StartAsync();
        await using var gateway = await HboneTestServer.StartAsync(handler: b => b.AddHandler(async ctx =>
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(workload.EndPoint, ctx.Aborted);
            var tunnel = await ctx.AcceptAsync(ctx.Aborted);
            ctx.SetOutcome(await tunnel.CopyToAsync(socket));
        }));

        await using var client = ClientFixture.CreateClient();
        var wrong = SpiffeId.Parse("spiffe://cluster.local/ns/remote/sa/echo");
        var request = new HboneRequest
        {
            Destination = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 15008),
            Authority = HboneAuthority.Parse("echo.remote.svc.cluster.local:8080"),
            ExpectedIdentities = [wrong],
            Gateway = new HboneGateway(gateway.EndPoint, [ClientFixture.ServerId]),
        };

        var error = await Assert.ThrowsAsync<HboneException>(() => client.ConnectAsync(request).AsTask().WaitAsync(Deadline));
        Assert.Equal(HboneErrorReason.InvalidSvid, error.Reason);
        Assert.Contains("spiffe://cluster.local/ns/default/sa/server", error.Message, StringComparison.Ordinal);
    }
}
