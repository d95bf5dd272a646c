using System.Runtime.CompilerServices;
using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Hbone.Relay;

/// <summary>A TCP socket side of a relay: FIN ↔ half-close, any failure closes it with a TCP RST.</summary>
internal sealed class SocketEndpoint : RelayEndpoint
{
    private readonly Socket _socket;
    private List<ArraySegment<byte>>? _gather;

    public SocketEndpoint(Socket socket)
    {
        _socket = socket;

        try
        {
            // Sends are tried at once and go async only for what the kernel did not take (see TrySend).
            socket.Blocking = false;
        }
        catch (ObjectDisposedException)
        {
            // Closed already: the relay's first operation reports it.
        }
    }

    public Socket Socket => _socket;

    internal override PipeReader? Reader => null;

    internal override PipeWriter? Writer => null;

    internal override TunnelOutcome ResetOutcome => TunnelOutcome.UpstreamReset;

    internal override bool IsSocket => true;

    // The socket's own awaitable, passed through: an idle tunnel's pending wait holds no state machine of ours.
    internal override ValueTask<int> WaitForDataAsync(CancellationToken cancellationToken) =>
        _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);

    internal override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    internal override ValueTask<bool> SendAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        var sent = TrySend(buffer.Span);
        return sent == buffer.Length ? new(true) : SendRestAsync(buffer[sent..], cancellationToken);
    }

    internal override ValueTask<bool> SendAsync(ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        if (buffer.IsSingleSegment)
        {
            return SendAsync(buffer.First, cancellationToken);
        }

        var gather = _gather ??= new List<ArraySegment<byte>>(16);
        gather.Clear();
        foreach (var segment in buffer)
        {
            if (!MemoryMarshal.TryGetArray(segment, out var array))
            {
                // Native memory cannot go in a gather list: send the segments one by one instead.
                return SendEachAsync(buffer, cancellationToken);
            }

            gather.Add(array);
        }

        // One sendmsg for the whole sequence.
        var sent = TrySend(gather);
        return sent == buffer.Length ? new(true) : SendEachAsync(buffer.Slice(sent), cancellationToken);
    }

    // A socket caches the state of its first asynchronous send (~300 B) for its whole life. Most relay sends fit the
    // kernel's buffer, so trying them at once keeps that state off idle tunnels; only the rest waits for room.
    private int TrySend(ReadOnlySpan<byte> data)
    {
        var sent = _socket.Send(data, SocketFlags.None, out var error);
        return error == SocketError.Success ? sent : NothingSent(error);
    }

    private int TrySend(List<ArraySegment<byte>> data)
    {
        var sent = _socket.Send(data, SocketFlags.None, out var error);
        return error == SocketError.Success ? sent : NothingSent(error);
    }

    private static int NothingSent(SocketError error) => error == SocketError.WouldBlock ? 0 : throw new SocketException((int)error);

    // Pooled state machine: a send that completes later allocates nothing in steady state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> SendRestAsync(ReadOnlyMemory<byte> rest, CancellationToken cancellationToken)
    {
        await _socket.SendAsync(rest, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        return true;
    }

    // Pooled state machine: a send that completes later allocates nothing in steady state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> SendEachAsync(ReadOnlySequence<byte> rest, CancellationToken cancellationToken)
    {
        foreach (var segment in rest)
        {
            await _socket.SendAsync(segment, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    internal override ValueTask CompleteWritesAsync(CancellationToken cancellationToken)
    {
        _socket.Shutdown(SocketShutdown.Send);
        return ValueTask.CompletedTask;
    }

    internal override TunnelOutcome? Classify(Exception exception) => exception switch
    {
        SocketException => TunnelOutcome.UpstreamReset,
        ObjectDisposedException => TunnelOutcome.Aborted,
        _ => null,
    };

    internal override void Fail(TunnelOutcome outcome) => TunnelRelay.Reset(_socket);
}
