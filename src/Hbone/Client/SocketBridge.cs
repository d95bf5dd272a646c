using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Hbone.Http2;

namespace Hbone.Client;

/// <summary>
/// The two copy loops between an accepted TCP socket and a client tunnel. Received tunnel data goes from the
/// stream's pipe to the socket in one gather write; socket data is read into a buffer taken only once data is ready.
/// </summary>
internal sealed class SocketBridge
{
    private const int ReadSize = 64 * 1024;

    private readonly HboneStream _tunnel;
    private readonly Socket _socket;
    private List<ArraySegment<byte>>? _gather;

    public SocketBridge(HboneStream tunnel, Socket socket)
    {
        _tunnel = tunnel;
        _socket = socket;
    }

    public async Task<TunnelOutcome> RunAsync(CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var toTunnel = SocketToTunnelAsync(cts.Token);
        var toSocket = TunnelToSocketAsync(cts.Token);
        var first = await Task.WhenAny(toTunnel, toSocket).ConfigureAwait(false);
        var outcome = await first.ConfigureAwait(false);
        if (outcome != TunnelOutcome.Completed)
        {
            Fail(outcome);
            await cts.CancelAsync().ConfigureAwait(false);
            await (first == toTunnel ? toSocket : toTunnel).ConfigureAwait(false);
            return outcome;
        }

        var second = await (first == toTunnel ? toSocket : toTunnel).ConfigureAwait(false);
        if (second != TunnelOutcome.Completed)
        {
            Fail(second);
        }

        return second;
    }

    private void Fail(TunnelOutcome outcome)
    {
        if (outcome == TunnelOutcome.UpstreamReset)
        {
            // The TCP side was reset: the far end must see CONNECT_ERROR, not a clean end (RFC 9113 §8.5).
            _tunnel.Abort(Http2ErrorCode.ConnectError);
            _socket.Dispose();
            return;
        }

        _tunnel.Abort(Http2ErrorCode.Cancel);
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        _socket.Dispose();
    }

    private async Task<TunnelOutcome> SocketToTunnelAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            byte[]? buffer = null;
            try
            {
                // Wait for data without a buffer: an idle tunnel holds no buffer memory.
                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                buffer = ArrayPool<byte>.Shared.Rent(ReadSize);
                var read = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    await _tunnel.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
                    return TunnelOutcome.Completed;
                }

                await _tunnel.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return TunnelOutcome.UpstreamReset;
            }
            catch (HboneException)
            {
                return TunnelOutcome.PeerReset;
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return TunnelOutcome.Aborted;
            }
            finally
            {
                if (buffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
    }

    private async Task<TunnelOutcome> TunnelToSocketAsync(CancellationToken cancellationToken)
    {
        var input = _tunnel.Input;
        while (true)
        {
            System.IO.Pipelines.ReadResult result;
            try
            {
                result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (HboneException)
            {
                return TunnelOutcome.PeerReset;
            }
            catch (OperationCanceledException)
            {
                return TunnelOutcome.Aborted;
            }

            var buffer = result.Buffer;
            try
            {
                if (!buffer.IsEmpty)
                {
                    await SendAsync(buffer, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (SocketException)
            {
                return TunnelOutcome.UpstreamReset;
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return TunnelOutcome.Aborted;
            }
            finally
            {
                input.AdvanceTo(buffer.End);
            }

            if (result.IsCompleted)
            {
                try
                {
                    // END_STREAM from the server becomes a FIN; the other direction keeps flowing.
                    _socket.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                    return TunnelOutcome.UpstreamReset;
                }

                return TunnelOutcome.Completed;
            }
        }
    }

    private async ValueTask SendAsync(ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        if (buffer.IsSingleSegment)
        {
            await _socket.SendAsync(buffer.First, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            return;
        }

        var gather = _gather ??= new List<ArraySegment<byte>>(16);
        gather.Clear();
        foreach (var segment in buffer)
        {
            if (!MemoryMarshal.TryGetArray(segment, out var array))
            {
                foreach (var part in buffer)
                {
                    await _socket.SendAsync(part, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                }

                return;
            }

            gather.Add(array);
        }

        await _socket.SendAsync(gather, SocketFlags.None).ConfigureAwait(false);
    }
}
