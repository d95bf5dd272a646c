using Hbone.Http2;
using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Hbone.Kestrel;

/// <summary>
/// The two copy loops of one tunnel. Payload moves between the tunnel's pipes and the socket without an extra
/// copy: socket reads land in the response pipe's memory; request-pipe segments are sent as one gather write.
/// </summary>
internal sealed class TunnelPump
{
    // Large reads keep syscalls few on bulk transfers; memory is only taken once data is ready.
    private const int ReadSize = 64 * 1024;

    private readonly HboneTunnel _tunnel;
    private readonly Socket _upstream;
    private List<ArraySegment<byte>>? _gather;

    public TunnelPump(HboneTunnel tunnel, Socket upstream)
    {
        _tunnel = tunnel;
        _upstream = upstream;
    }

    public async Task<TunnelOutcome> RunAsync(CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _tunnel.Aborted);
        var toUpstream = PeerToUpstreamAsync(cts.Token);
        var toPeer = UpstreamToPeerAsync(cts.Token);

        var first = await Task.WhenAny(toUpstream, toPeer).ConfigureAwait(false);
        var outcome = await first.ConfigureAwait(false);
        if (outcome != TunnelOutcome.Completed)
        {
            // The first failure decides for both directions.
            Fail(outcome);
            await cts.CancelAsync().ConfigureAwait(false);
            await (first == toUpstream ? toPeer : toUpstream).ConfigureAwait(false);
            return outcome;
        }

        var second = await (first == toUpstream ? toPeer : toUpstream).ConfigureAwait(false);
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
            // RFC 9113 §8.5: a reset TCP connection is reported as CONNECT_ERROR, never as a clean end.
            _tunnel.Reset(Http2ErrorCode.ConnectError);
            _upstream.Dispose();
        }
        else
        {
            ResetUpstream();
        }
    }

    private void ResetUpstream()
    {
        try
        {
            // Linger 0 turns close into a TCP RST, so the upstream learns the stream was reset.
            _upstream.LingerState = new LingerOption(true, 0);
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException)
        {
        }

        _upstream.Dispose();
    }

    private async Task<TunnelOutcome> PeerToUpstreamAsync(CancellationToken cancellationToken)
    {
        var input = _tunnel.Input;
        while (true)
        {
            System.IO.Pipelines.ReadResult result;
            try
            {
                result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return _tunnel.Aborted.IsCancellationRequested ? TunnelOutcome.PeerReset : TunnelOutcome.Aborted;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
            {
                return TunnelOutcome.PeerReset;
            }

            var buffer = result.Buffer;
            try
            {
                if (!buffer.IsEmpty)
                {
                    await SendAsync(buffer, cancellationToken).ConfigureAwait(false);
                    _tunnel.AddBytesFromPeer(buffer.Length);
                }
            }
            catch (SocketException)
            {
                return TunnelOutcome.UpstreamReset;
            }
            catch (ObjectDisposedException)
            {
                return TunnelOutcome.Aborted;
            }
            catch (OperationCanceledException)
            {
                return _tunnel.Aborted.IsCancellationRequested ? TunnelOutcome.PeerReset : TunnelOutcome.Aborted;
            }
            finally
            {
                input.AdvanceTo(buffer.End);
            }

            if (result.IsCompleted)
            {
                // END_STREAM from the peer becomes a FIN upstream; the other direction keeps flowing.
                try
                {
                    _upstream.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                    return TunnelOutcome.UpstreamReset;
                }

                return TunnelOutcome.Completed;
            }

            if (result.IsCanceled)
            {
                return TunnelOutcome.Aborted;
            }
        }
    }

    private ValueTask<int> SendAsync(ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        if (buffer.IsSingleSegment)
        {
            return _upstream.SendAsync(buffer.First, SocketFlags.None, cancellationToken);
        }

        var gather = _gather ??= new List<ArraySegment<byte>>(16);
        gather.Clear();
        foreach (var segment in buffer)
        {
            if (!MemoryMarshal.TryGetArray(segment, out var array))
            {
                return SendSegmentsAsync(buffer, cancellationToken);
            }

            gather.Add(array);
        }

        return new ValueTask<int>(_upstream.SendAsync(gather, SocketFlags.None));
    }

    private async ValueTask<int> SendSegmentsAsync(ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        var sent = 0;
        foreach (var segment in buffer)
        {
            sent += await _upstream.SendAsync(segment, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }

        return sent;
    }

    private async Task<TunnelOutcome> UpstreamToPeerAsync(CancellationToken cancellationToken)
    {
        var output = _tunnel.Output;
        while (true)
        {
            int read;
            try
            {
                // Wait for data without holding a buffer: an idle tunnel then costs no buffer memory.
                await _upstream.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                var memory = output.GetMemory(ReadSize);
                read = await _upstream.ReceiveAsync(memory, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return TunnelOutcome.UpstreamReset;
            }
            catch (ObjectDisposedException)
            {
                return TunnelOutcome.Aborted;
            }
            catch (OperationCanceledException)
            {
                return _tunnel.Aborted.IsCancellationRequested ? TunnelOutcome.PeerReset : TunnelOutcome.Aborted;
            }

            try
            {
                if (read == 0)
                {
                    // FIN from the upstream becomes END_STREAM; the peer may keep sending.
                    await _tunnel.CompleteWritesAsync().ConfigureAwait(false);
                    return TunnelOutcome.Completed;
                }

                output.Advance(read);
                _tunnel.AddBytesToPeer(read);
                var flush = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    return TunnelOutcome.PeerReset;
                }
            }
            catch (OperationCanceledException)
            {
                return _tunnel.Aborted.IsCancellationRequested ? TunnelOutcome.PeerReset : TunnelOutcome.Aborted;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
            {
                return TunnelOutcome.PeerReset;
            }
        }
    }
}
