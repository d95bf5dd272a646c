using System.Net;
using System.Net.Sockets;
using Hbone.Relay;
using static Hbone.Tests.Relay.Loopback;

namespace Hbone.Tests.Relay;

/// <summary>
/// <see cref="RelaySockets.ConnectAsync"/> connects through pooled connect state, so an upstream socket keeps none of it
/// (issue 10: memory per idle tunnel; new case id MEM-04, not in the catalogue): it checks its arguments, connects, reports
/// a refusal as the socket error, honours cancellation, and stays correct when more connects run at once than the pool keeps.
/// </summary>
public sealed class SocketConnectorTests
{
    [Fact]
    [Trait("case", "MEM-04")]
    public async Task Connects_and_the_listener_sees_the_socket()
    {
        using var listener = Listen();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        await RelaySockets.ConnectAsync(socket, (IPEndPoint)listener.LocalEndPoint!, CancellationToken.None).AsTask().WaitAsync(Deadline);
        using var accepted = await listener.AcceptAsync().WaitAsync(Deadline);

        Assert.True(socket.Connected);
        Assert.Equal(accepted.RemoteEndPoint, socket.LocalEndPoint);
    }

    [Fact]
    [Trait("case", "MEM-04")]
    public async Task Missing_arguments_are_refused_before_anything_is_rented()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        Assert.Equal("socket", (await Assert.ThrowsAsync<ArgumentNullException>(() => RelaySockets.ConnectAsync(null!, new IPEndPoint(IPAddress.Loopback, 1)).AsTask())).ParamName);
        Assert.Equal("endPoint", (await Assert.ThrowsAsync<ArgumentNullException>(() => RelaySockets.ConnectAsync(socket, null!).AsTask())).ParamName);
        Assert.False(socket.Connected);
    }

    [Fact]
    [Trait("case", "MEM-04")]
    public async Task A_refused_connect_throws_the_socket_error()
    {
        IPEndPoint closed;
        using (var listener = Listen())
        {
            closed = (IPEndPoint)listener.LocalEndPoint!;
        }

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var error = await Assert.ThrowsAsync<SocketException>(() => RelaySockets.ConnectAsync(socket, closed, CancellationToken.None).AsTask().WaitAsync(Deadline));

        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    [Fact]
    [Trait("case", "MEM-04")]
    public async Task A_cancelled_token_throws_without_connecting()
    {
        using var listener = Listen();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RelaySockets.ConnectAsync(socket, (IPEndPoint)listener.LocalEndPoint!, new CancellationToken(canceled: true)).AsTask());

        Assert.False(socket.Connected);
    }

    [Fact]
    [Trait("case", "MEM-04")]
    public async Task Cancelling_a_hanging_connect_throws_and_closes_the_socket()
    {
        // A listener whose accept queue is full drops further SYNs: the connect hangs like a blackhole.
        using var listener = Listen(backlog: 0);
        var fillers = Enumerable.Range(0, 4).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToList();
        try
        {
            fillers.ForEach(f => _ = f.ConnectAsync(listener.LocalEndPoint!));
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RelaySockets.ConnectAsync(socket, (IPEndPoint)listener.LocalEndPoint!, cancel.Token).AsTask().WaitAsync(Deadline));

            Assert.False(socket.Connected);
            Assert.Throws<ObjectDisposedException>(() => socket.Send([1]));
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    [Trait("case", "MEM-04")]
    public async Task Sixty_four_connects_at_once_then_sixty_four_in_turn_all_connect()
    {
        using var listener = Listen();
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        var sockets = new List<Socket>();
        try
        {
            // Twice the pool's size at once (some state is dropped, not pooled), then one by one (pooled state reused).
            var batch = Enumerable.Range(0, 64).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToList();
            sockets.AddRange(batch);
            await Task.WhenAll(batch.Select(s => RelaySockets.ConnectAsync(s, endPoint, CancellationToken.None).AsTask())).WaitAsync(Deadline);
            for (var i = 0; i < 64; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                await RelaySockets.ConnectAsync(socket, endPoint, CancellationToken.None).AsTask().WaitAsync(Deadline);
            }

            Assert.All(sockets, s => Assert.True(s.Connected));
            Assert.Equal(128, sockets.Select(s => s.LocalEndPoint).Distinct().Count());
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    private static Socket Listen(int backlog = 256)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(backlog);
        return listener;
    }
}
