using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Relay;
using static Hbone.Tests.Relay.Loopback;

namespace Hbone.Tests.Relay;

/// <summary>
/// Socket sends are tried at once and only the rest waits (issue 10: memory per idle tunnel; new case id MEM-03, not in
/// the catalogue): through a 4 KiB kernel send buffer, the relay's sends of up to 64 KiB are nearly all partial, and no
/// byte is lost.
/// </summary>
public sealed class RelaySendTests
{
    private const int Size = 2 * 1024 * 1024;

    [Fact]
    [Trait("case", "MEM-03")]
    public async Task Pipe_to_socket_through_a_4_KiB_send_buffer_arrives_whole()
    {
        var (upstream, socket) = await PairAsync();
        using var _ = new Sockets(upstream, socket);
        socket.SendBufferSize = 4096;
        var tunnel = TestPipeEndpoint.Create();
        var relay = new TunnelRelay(tunnel, RelayEndpoint.Create(socket));
        var run = relay.RunAsync();
        var request = RandomNumberGenerator.GetBytes(Size);

        var reads = Task.Run(() => ReadToEndAsync(upstream));
        await Task.Run(() => WriteInChunksAsync(tunnel.FromPeer, request)).WaitAsync(Deadline);
        upstream.Shutdown(SocketShutdown.Send);

        Assert.Equal(SHA256.HashData(request), SHA256.HashData(await reads.WaitAsync(Deadline)));
        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));
        Assert.Equal(Size, relay.BytesAToB);
        Assert.False(socket.Blocking);
    }

    [Fact]
    [Trait("case", "MEM-03")]
    public async Task Socket_to_socket_through_a_4_KiB_send_buffer_arrives_whole()
    {
        var (app, a) = await PairAsync();
        var (upstream, b) = await PairAsync();
        using var _ = new Sockets(app, a, upstream, b);
        b.SendBufferSize = 4096;
        var relay = new TunnelRelay(RelayEndpoint.Create(a), RelayEndpoint.Create(b));
        var run = relay.RunAsync();
        var request = RandomNumberGenerator.GetBytes(Size);

        var reads = Task.Run(() => ReadToEndAsync(upstream));
        await Task.Run(() => SendAndShutdownAsync(app, request)).WaitAsync(Deadline);
        upstream.Shutdown(SocketShutdown.Send);

        Assert.Equal(SHA256.HashData(request), SHA256.HashData(await reads.WaitAsync(Deadline)));
        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));
        Assert.Equal(Size, relay.BytesAToB);
    }
}
