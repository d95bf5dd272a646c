using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel.Transport;

/// <summary>
/// One socket as a Kestrel connection: a receive loop fills the input pipe, a send loop drains the output pipe.
/// Closing follows Kestrel's socket transport: the send loop ending shuts the socket down, which ends the receive
/// loop, which completes the input and fires <see cref="ConnectionClosed"/>.
/// </summary>
internal sealed class AcceptedSocketConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, IConnectionSocketFeature
{
    private static long s_lastId;

    private readonly Socket _socket;
    private readonly Pipe _received;
    private readonly Pipe _toSend;
    private readonly int _minimumReceive;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _closedFired = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _shutdownLock = new();
    private bool _socketDisposed;
    private volatile Exception? _shutdownReason;
    private Task _processing = Task.CompletedTask;

    public AcceptedSocketConnection(Socket socket, MemoryPool<byte> pool, AcceptedSocketConnectionOptions options, ILogger logger)
    {
        _socket = socket;
        _logger = logger;
        MemoryPool = pool;
        ConnectionId = $"A{Interlocked.Increment(ref s_lastId):X8}";
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionClosed = _closed.Token;

        // A segment is a whole pool block; a receive asks for at least half of one, so it never reads a few bytes
        // into the tail of a nearly full block.
        int segment = Math.Clamp(pool.MaxBufferSize, 4096, Hosting.LargeBlockMemoryPool.BlockSize);
        _minimumReceive = segment / 2;
        var application = options.UnsafePreferInlineScheduling ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
        _received = new Pipe(new PipeOptions(pool, application, PipeScheduler.ThreadPool,
            options.MaxReadBufferSize, options.MaxReadBufferSize / 2, segment, useSynchronizationContext: false));
        _toSend = new Pipe(new PipeOptions(pool, application, PipeScheduler.ThreadPool,
            options.MaxWriteBufferSize, options.MaxWriteBufferSize / 2, segment, useSynchronizationContext: false));
        Transport = new DuplexPipe(_received.Reader, _toSend.Writer);

        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IMemoryPoolFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Features.Set<IConnectionSocketFeature>(this);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new ConnectionItems();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public MemoryPool<byte> MemoryPool { get; }

    public Socket Socket => _socket;

    public void Start() => _processing = RunAsync();

    public override void Abort(ConnectionAbortedException abortReason)
    {
        Shutdown(abortReason);
        // The send loop stops at once instead of after the application's next write.
        _toSend.Reader.CancelPendingRead();
    }

    // Kestrel calls this after the connection's middleware finished, so the ConnectionClosed token has fired.
    public override async ValueTask DisposeAsync()
    {
        _received.Reader.Complete();
        _toSend.Writer.Complete();
        await _processing.ConfigureAwait(false);
        _closed.Dispose();
    }

    private async Task RunAsync()
    {
        try
        {
            Task receiving = ReceiveLoopAsync();
            Task sending = SendLoopAsync();
            await receiving.ConfigureAwait(false);
            await sending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Connection {ConnectionId}: unexpected failure of its socket loops.", ConnectionId);
        }
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        PipeWriter input = _received.Writer;
        try
        {
            bool waitForData = true;
            while (true)
            {
                // An idle connection holds no buffer: it waits for readiness with an empty read first.
                if (waitForData)
                {
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                }

                Memory<byte> buffer = input.GetMemory(_minimumReceive);
                int received = await _socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    break;
                }

                input.Advance(received);
                // A receive that filled its buffer probably left more queued: read again without the readiness wait.
                waitForData = received < buffer.Length;
                FlushResult flushed = await input.FlushAsync().ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (SocketException ex) when (IsReset(ex.SocketErrorCode))
        {
            error = new ConnectionResetException(ex.Message, ex);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The socket was shut down by Abort or the send loop: _shutdownReason says why.
            error = ex;
        }
        catch (Exception ex)
        {
            error = ex;
            _logger.LogError(ex, "Connection {ConnectionId}: receive failed.", ConnectionId);
        }
        finally
        {
            await input.CompleteAsync(_shutdownReason ?? error).ConfigureAwait(false);
            FireConnectionClosed();
            await _closedFired.Task.ConfigureAwait(false);
        }
    }

    private async Task SendLoopAsync()
    {
        Exception? shutdownReason = null;
        Exception? unexpected = null;
        PipeReader output = _toSend.Reader;
        try
        {
            while (true)
            {
                ReadResult result = await output.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                foreach (ReadOnlyMemory<byte> segment in buffer)
                {
                    for (ReadOnlyMemory<byte> rest = segment; !rest.IsEmpty;)
                    {
                        rest = rest[await _socket.SendAsync(rest, SocketFlags.None).ConfigureAwait(false)..];
                    }
                }

                output.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (SocketException ex) when (IsReset(ex.SocketErrorCode))
        {
            shutdownReason = new ConnectionResetException(ex.Message, ex);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            shutdownReason = ex;
        }
        catch (Exception ex)
        {
            shutdownReason = unexpected = ex;
            _logger.LogError(ex, "Connection {ConnectionId}: send failed.", ConnectionId);
        }
        finally
        {
            Shutdown(shutdownReason);
            await output.CompleteAsync(unexpected).ConfigureAwait(false);
            // A receive loop paused on a full input pipe must see the end too.
            _received.Writer.CancelPendingFlush();
        }
    }

    // Cancelled from the thread pool, as Kestrel does: ConnectionClosed callbacks must not run inside the receive loop.
    private void FireConnectionClosed() =>
        ThreadPool.UnsafeQueueUserWorkItem(static connection =>
        {
            try
            {
                connection._closed.Cancel();
            }
            catch (Exception ex)
            {
                connection._logger.LogError(ex, "Connection {ConnectionId}: a ConnectionClosed callback failed.", connection.ConnectionId);
            }

            connection._closedFired.TrySetResult();
        }, this, preferLocal: false);

    private void Shutdown(Exception? reason)
    {
        lock (_shutdownLock)
        {
            if (_socketDisposed)
            {
                return;
            }

            _socketDisposed = true;
            _shutdownReason = reason ?? new ConnectionAbortedException("The connection's send loop completed.");
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
                // Already reset by the peer: disposing is all that is left.
            }

            _socket.Dispose();
        }
    }

    private static bool IsReset(SocketError error) => error is SocketError.ConnectionReset or SocketError.Shutdown;

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}
