using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Kestrel.Hosting;
using Hbone.Kestrel.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Hbone.Kestrel.Tests.Connect;

/// <summary>
/// The server's data path in whole blocks: Kestrel's transport on 32 KiB blocks, DATA frames sized so that a frame
/// and its header are exactly one 16 KiB TLS record.
/// </summary>
public sealed class TransportBlockTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    // 16 KiB minus the 9-byte frame header (FrameHeader.RecordAlignedDataPayload in the library).
    private const int RecordAlignedDataPayload = 16 * 1024 - 9;

    [Fact]
    public async Task Kestrel_transport_receives_into_the_large_block_pool_that_AddHboneServer_registers()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        var factory = Assert.IsType<LargeBlockMemoryPoolFactory>(server.App.Services.GetRequiredService<IMemoryPoolFactory<byte>>());
        var pool = Assert.IsType<LargeBlockMemoryPool>(factory.Create());
        await using var connection = await server.ConnectProcessingAsync();

        var stream = await connection.OpenStreamAsync(upstream.Authority);
        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));
        var payload = RandomNumberGenerator.GetBytes(1024 * 1024);
        await stream.WriteAsync(payload);
        await stream.EndAsync();
        var echoed = await stream.ReadToEndAsync().WaitAsync(Deadline);

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
        // The transport's receive and TLS blocks came from this pool and went back to it.
        Assert.InRange(pool.RetainedCount, 1, LargeBlockMemoryPool.MaxRetained);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, pool.MaxBufferSize);
    }

    [Fact]
    public async Task Upstream_bytes_leave_in_record_aligned_DATA_frames_of_16375_bytes()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync(upstream.Authority);
        using var accepted = await upstream.AcceptAsync(Deadline);
        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));

        var payload = RandomNumberGenerator.GetBytes(1024 * 1024);
        await accepted.SendAsync(payload, SocketFlags.None);
        accepted.Shutdown(SocketShutdown.Send);
        var received = await stream.ReadToEndAsync().WaitAsync(Deadline);

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(received));
        var sizes = stream.DataFrameSizes.ToArray();
        Assert.All(sizes, size => Assert.InRange(size, 0, RecordAlignedDataPayload));
        // Reads of the upstream may come up short, but most frames are full ones.
        Assert.True(sizes.Count(size => size == RecordAlignedDataPayload) >= sizes.Length / 2, $"frame sizes: {string.Join(',', sizes)}");
    }

    [Fact]
    public void Pool_reuses_returned_blocks_keeps_at_most_MaxRetained_and_refuses_larger_requests()
    {
        var pool = new LargeBlockMemoryPool();
        var first = pool.Rent();
        var memory = first.Memory;
        first.Dispose();
        using (var again = pool.Rent(100))
        {
            Assert.True(memory.Span == again.Memory.Span, "a returned block is handed out again");
        }

        var many = Enumerable.Range(0, LargeBlockMemoryPool.MaxRetained + 10).Select(_ => pool.Rent()).ToList();
        Assert.All(many, block => Assert.Equal(LargeBlockMemoryPool.BlockSize, block.Memory.Length));
        many.ForEach(block => block.Dispose());
        Assert.Equal(LargeBlockMemoryPool.MaxRetained, pool.RetainedCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(LargeBlockMemoryPool.BlockSize + 1));
    }

    [Fact]
    public void Every_Create_returns_the_one_shared_pool_and_disposing_it_keeps_it_usable()
    {
        var factory = new LargeBlockMemoryPoolFactory();
        var pool = factory.Create();
        Assert.Same(pool, factory.Create(new MemoryPoolOptions()));
        pool.Dispose();
        using var block = factory.Create().Rent();
        Assert.Equal(LargeBlockMemoryPool.BlockSize, block.Memory.Length);
    }
}
