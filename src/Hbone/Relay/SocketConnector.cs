using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Hbone.Relay;

/// <summary>
/// Connects a socket with pooled connect state. <see cref="Socket.ConnectAsync(EndPoint, CancellationToken)"/> keeps
/// its state and the peer's address (~370 B) on the socket for the socket's whole life: on a tunnel's upstream
/// socket, that is memory every idle tunnel holds.
/// </summary>
internal sealed class SocketConnector : SocketAsyncEventArgs, IValueTaskSource
{
    // Connects in flight at once beyond this allocate and drop their state; the pool only keeps the common case cheap.
    private const int PoolLimit = 32;
    private static readonly ConcurrentQueue<SocketConnector> s_pool = new();
    private static int s_pooled;

    private ManualResetValueTaskSourceCore<bool> _completion;

    private SocketConnector()
        : base(unsafeSuppressExecutionContextFlow: true)
    {
    }

    /// <summary>Connects <paramref name="socket"/> to <paramref name="endPoint"/>; cancelling closes the socket.</summary>
    /// <exception cref="SocketException">The connect failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public static async ValueTask ConnectAsync(Socket socket, IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var connector = Rent();
        SocketError error;
        try
        {
            connector.RemoteEndPoint = endPoint;
            connector._completion.Reset();

            // Disposing the registration waits for a cancel already running, so it never reaches a connector back in the pool.
            using (cancellationToken.UnsafeRegister(static state => Socket.CancelConnectAsync((SocketAsyncEventArgs)state!), connector))
            {
                if (socket.ConnectAsync(connector))
                {
                    await new ValueTask(connector, connector._completion.Version).ConfigureAwait(false);
                }
            }

            error = connector.SocketError;
        }
        finally
        {
            connector.RemoteEndPoint = null;
            Return(connector);
        }

        if (error != SocketError.Success)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new SocketException((int)error);
        }
    }

    protected override void OnCompleted(SocketAsyncEventArgs e) => _completion.SetResult(true);

    void IValueTaskSource.GetResult(short token) => _completion.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _completion.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _completion.OnCompleted(continuation, state, token, flags);

    private static SocketConnector Rent()
    {
        if (s_pool.TryDequeue(out var connector))
        {
            Interlocked.Decrement(ref s_pooled);
            return connector;
        }

        return new SocketConnector();
    }

    private static void Return(SocketConnector connector)
    {
        if (Interlocked.Increment(ref s_pooled) <= PoolLimit)
        {
            s_pool.Enqueue(connector);
            return;
        }

        Interlocked.Decrement(ref s_pooled);
        connector.Dispose();
    }
}
