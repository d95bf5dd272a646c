using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Relay;
using static Hbone.Tests.Relay.Loopback;

namespace Hbone.Tests.Relay;

/// <summary><see cref="TunnelRelay"/> moves 16 MiB each way at the same time, byte-exact by SHA-256, with exact counts.</summary>
public sealed class RelayIntegrityTests
{
    private const int Size = 16 * 1024 * 1024;

    [Fact]
    [Trait("case", "CON-14")]
    public async Task Socket_to_socket_16_MiB_both_ways_at_once()
    {
        var (app, a) = await PairAsync();
        var (upstream, b) = await PairAsync();
        using var _ = new Sockets(app, a, upstream, b);
        var relay = new TunnelRelay(RelayEndpoint.Create(a), RelayEndpoint.Create(b));
        var run = relay.RunAsync();
        var request = RandomNumberGenerator.GetBytes(Size);
        var response = RandomNumberGenerator.GetBytes(Size);

        var upstreamReads = Task.Run(() => ReadToEndAsync(upstream));
        var appReads = Task.Run(() => ReadToEndAsync(app));
        await Task.WhenAll(Task.Run(() => SendAndShutdownAsync(app, request)), Task.Run(() => SendAndShutdownAsync(upstream, response))).WaitAsync(Deadline);

        Assert.Equal(SHA256.HashData(request), SHA256.HashData(await upstreamReads.WaitAsync(Deadline)));
        Assert.Equal(SHA256.HashData(response), SHA256.HashData(await appReads.WaitAsync(Deadline)));
        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));
        Assert.Equal(((long)Size, (long)Size), (relay.BytesAToB, relay.BytesBToA));
    }

    [Fact]
    [Trait("case", "CON-14")]
    public async Task Pipe_to_socket_16_MiB_both_ways_at_once()
    {
        var (upstream, socket) = await PairAsync();
        using var _ = new Sockets(upstream, socket);
        var tunnel = TestPipeEndpoint.Create();
        var relay = new TunnelRelay(tunnel, RelayEndpoint.Create(socket));
        var run = relay.RunAsync();
        var request = RandomNumberGenerator.GetBytes(Size);
        var response = RandomNumberGenerator.GetBytes(Size);

        var upstreamReads = Task.Run(() => ReadToEndAsync(upstream));
        var peerReads = Task.Run(tunnel.ReadToEndAsync);
        await Task.WhenAll(Task.Run(() => WriteInChunksAsync(tunnel.FromPeer, request)), Task.Run(() => SendAndShutdownAsync(upstream, response))).WaitAsync(Deadline);

        Assert.Equal(SHA256.HashData(request), SHA256.HashData(await upstreamReads.WaitAsync(Deadline)));
        Assert.Equal(SHA256.HashData(response), SHA256.HashData(await peerReads.WaitAsync(Deadline)));
        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));
        Assert.Equal(((long)Size, (long)Size), (relay.BytesAToB, relay.BytesBToA));
    }
}
