using System.Runtime.CompilerServices;
using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Hbone.Relay;

/// <summary>A TCP socket side of a relay: FIN ↔ half-close, any failure closes it with a TCP RST.</summary>
internal sealed class SocketEndpoint(Socket socket) : RelayEndpoint
{
    private List<ArraySegment<byte>>? _gather;

    public Socket Socket => socket;

    internal override PipeReader? Reader => null;

    internal override PipeWriter? Writer => null;

    internal override TunnelOutcome ResetOutcome => TunnelOutcome.UpstreamReset;

    internal override bool IsSocket => true;

    // The socket's own awaitable, passed through: an idle tunnel's pending wait holds no state machine of ours.
    internal override ValueTask<int> WaitForDataAsync(CancellationToken cancellationToken) =>
        socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);

    internal override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    // Pooled state machine: a send that completes later allocates nothing in steady state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal override async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await socket.SendAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        return true;
    }

    // Pooled state machine: a send that completes later allocates nothing in steady state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal override async ValueTask<bool> SendAsync(ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        if (buffer.IsSingleSegment)
        {
            await socket.SendAsync(buffer.First, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            return true;
        }

        var gather = _gather ??= new List<ArraySegment<byte>>(16);
        gather.Clear();
        foreach (var segment in buffer)
        {
            if (!MemoryMarshal.TryGetArray(segment, out var array))
            {
                // Native memory cannot go in a gather list: send the segments one by one instead.
                foreach (var part in buffer)
                {
                    await socket.SendAsync(part, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                }

                return true;
            }

            gather.Add(array);
        }

        // One sendmsg for the whole sequence; the list-based overload takes no token, cancellation closes the socket.
        await socket.SendAsync(gather, SocketFlags.None).ConfigureAwait(false);
        return true;
    }

    internal override ValueTask CompleteWritesAsync(CancellationToken cancellationToken)
    {
        socket.Shutdown(SocketShutdown.Send);
        return ValueTask.CompletedTask;
    }

    internal override TunnelOutcome? Classify(Exception exception) => exception switch
    {
        SocketException => TunnelOutcome.UpstreamReset,
        ObjectDisposedException => TunnelOutcome.Aborted,
        _ => null,
    };

    internal override void Fail(TunnelOutcome outcome) => TunnelRelay.Reset(socket);
}
