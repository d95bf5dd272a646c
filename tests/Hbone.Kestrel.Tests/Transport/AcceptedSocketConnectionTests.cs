using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Kestrel.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Hbone.Kestrel.Tests.Transport;

/// <summary>A socket accepted outside Kestrel, as a Kestrel connection: bytes, closing, aborting and its memory.</summary>
public sealed class AcceptedSocketConnectionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Bytes_sent_by_the_peer_come_back_unchanged_through_the_connection_pipes()
    {
        var pool = new CountingPool();
        (Socket peer, ConnectionContext connection) = await ConnectAsync(pool);
        await using var _ = connection;
        using var __ = peer;
        byte[] payload = RandomNumberGenerator.GetBytes(1 << 20);

        Task<int> echo = EchoAsync(connection.Transport, payload.Length);
        Task sending = peer.SendAsync(payload, SocketFlags.None);
        byte[] back = await ReceiveExactlyAsync(peer, payload.Length).WaitAsync(Deadline);
        await sending.WaitAsync(Deadline);

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(back));
        // Receives fill the pool's 32 KiB blocks, not Kestrel's 4 KiB ones.
        Assert.True(await echo.WaitAsync(Deadline) > 4096, "no received segment was larger than 4 KiB");
        Assert.Equal(32 * 1024, connection.Features.Get<IMemoryPoolFeature>()!.MemoryPool.MaxBufferSize);
    }

    [Fact]
    public async Task The_peer_closing_completes_the_input_and_fires_ConnectionClosed()
    {
        (Socket peer, ConnectionContext connection) = await ConnectAsync(new CountingPool());
        await using var _ = connection;
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionClosed.Register(() => closed.TrySetResult());

        await peer.SendAsync("last words"u8.ToArray(), SocketFlags.None);
        peer.Shutdown(SocketShutdown.Send);

        ReadResult read;
        do
        {
            read = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(Deadline);
            connection.Transport.Input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
        while (!read.IsCompleted);

        Assert.Equal("last words"u8.ToArray(), read.Buffer.ToArray());
        await closed.Task.WaitAsync(Deadline);
        peer.Dispose();
    }

    [Fact]
    public async Task Completing_the_output_sends_what_was_written_then_closes_the_socket()
    {
        (Socket peer, ConnectionContext connection) = await ConnectAsync(new CountingPool());
        await using var _ = connection;
        using var __ = peer;

        await connection.Transport.Output.WriteAsync("goodbye"u8.ToArray());
        await connection.Transport.Output.CompleteAsync();

        Assert.Equal("goodbye"u8.ToArray(), await ReceiveToEndAsync(peer).WaitAsync(Deadline));
    }

    [Fact]
    public async Task Abort_closes_the_socket_and_fires_ConnectionClosed_without_the_application_writing()
    {
        (Socket peer, ConnectionContext connection) = await ConnectAsync(new CountingPool());
        await using var _ = connection;
        using var __ = peer;
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionClosed.Register(() => closed.TrySetResult());

        connection.Abort(new ConnectionAbortedException("test abort"));

        Assert.Empty(await ReceiveToEndAsync(peer).WaitAsync(Deadline));
        await closed.Task.WaitAsync(Deadline);
        // The application's next read learns why, as with Kestrel's socket transport.
        var reason = await Assert.ThrowsAsync<ConnectionAbortedException>(() => connection.Transport.Input.ReadAsync().AsTask().WaitAsync(Deadline));
        Assert.Equal("test abort", reason.Message);
    }

    [Fact]
    public async Task An_idle_connection_holds_no_pool_block_once_its_bytes_are_consumed()
    {
        var pool = new CountingPool();
        (Socket peer, ConnectionContext connection) = await ConnectAsync(pool);
        await using var _ = connection;
        using var __ = peer;
        Assert.Equal(0, pool.Outstanding);

        await peer.SendAsync(new byte[100], SocketFlags.None);
        ReadResult read = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(Deadline);
        Assert.Equal(100, read.Buffer.Length);
        connection.Transport.Input.AdvanceTo(read.Buffer.End);

        // The receive loop is back in its empty readiness read, and the consumed block went back to the pool.
        using var deadline = new CancellationTokenSource(Deadline);
        while (pool.Outstanding != 0)
        {
            await Task.Delay(10, deadline.Token);
        }

        Assert.True(pool.Rented >= 1);
    }

    private static async Task<(Socket Peer, ConnectionContext Connection)> ConnectAsync(MemoryPool<byte> pool)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Task connecting = peer.ConnectAsync(listener.LocalEndPoint!);
        Socket accepted = await listener.AcceptAsync().WaitAsync(Deadline);
        await connecting.WaitAsync(Deadline);
        var factory = new AcceptedSocketConnectionFactory(new AcceptedSocketConnectionOptions { MemoryPool = pool });
        return (peer, factory.Create(accepted));
    }

    // Echoes count bytes from input to output; returns the largest single segment received.
    private static async Task<int> EchoAsync(IDuplexPipe transport, int count)
    {
        int largest = 0;
        for (long echoed = 0; echoed < count;)
        {
            ReadResult read = await transport.Input.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in read.Buffer)
            {
                largest = Math.Max(largest, segment.Length);
                await transport.Output.WriteAsync(segment);
            }

            echoed += read.Buffer.Length;
            transport.Input.AdvanceTo(read.Buffer.End);
        }

        return largest;
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count)
    {
        byte[] buffer = new byte[count];
        for (int filled = 0; filled < count;)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
            Assert.NotEqual(0, n);
            filled += n;
        }

        return buffer;
    }

    private static async Task<byte[]> ReceiveToEndAsync(Socket socket)
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[4096];
        try
        {
            for (int n; (n = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0;)
            {
                all.Write(buffer, 0, n);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            // An abort may end in a reset rather than a FIN; either way the stream ended.
        }

        return all.ToArray();
    }

    private sealed class CountingPool : MemoryPool<byte>
    {
        private int _outstanding;
        private int _rented;

        public int Outstanding => Volatile.Read(ref _outstanding);

        public int Rented => Volatile.Read(ref _rented);

        public override int MaxBufferSize => 32 * 1024;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            Interlocked.Increment(ref _outstanding);
            Interlocked.Increment(ref _rented);
            return new Owner(this);
        }

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Owner(CountingPool pool) : IMemoryOwner<byte>
        {
            private int _disposed;

            public Memory<byte> Memory { get; } = new byte[32 * 1024];

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref pool._outstanding);
                }
            }
        }
    }
}
