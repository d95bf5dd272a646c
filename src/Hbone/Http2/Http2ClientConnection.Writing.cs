using System.Buffers.Binary;

namespace Hbone.Http2;

internal sealed partial class Http2ClientConnection
{
    /// <summary>
    /// The only task writing to the transport. Callers append frames to <see cref="_pending"/> under the lock; this
    /// loop swaps buffers and writes everything appended since the last write in one call.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                await _writeSignal.WaitAsync().ConfigureAwait(false);
                WriteBuffer batch;
                bool aborting;
                lock (_lock)
                {
                    (batch, _sending, _pending) = (_pending, _pending, _sending);
                    _writeScheduled = false;
                    aborting = _abortReason is not null;
                }

                if (batch.Length > 0)
                {
                    await _transport.WriteAsync(batch.Written).ConfigureAwait(false);
                    await _transport.FlushAsync().ConfigureAwait(false);
                }

                TaskCompletionSource? drained = null;
                lock (_lock)
                {
                    batch.Reset();
                    if (_pending.Length < MaxPendingBytes)
                    {
                        drained = _drained;
                        _drained = null;
                    }

                    aborting |= _abortReason is not null && _pending.Length == 0;
                }

                drained?.TrySetResult();
                if (aborting)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or NotSupportedException)
        {
            Abort(new HboneException(HboneErrorReason.ConnectionFailed, "Writing to the HTTP/2 connection failed.", ex));
        }
        finally
        {
            CloseTransport();
        }
    }

    private void ScheduleWriteLocked()
    {
        if (!_writeScheduled)
        {
            _writeScheduled = true;
            _writeSignal.Release();
        }
    }

    private void AppendFrameLocked(FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var span = _pending.GetSpan(FrameHeader.Size + payload.Length);
        FrameHeader.Write(span, payload.Length, type, flags, streamId);
        payload.CopyTo(span[FrameHeader.Size..]);
        _pending.Advance(FrameHeader.Size + payload.Length);
    }

    private void AppendWindowUpdateLocked(int streamId, int increment)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, increment);
        AppendFrameLocked(FrameType.WindowUpdate, FrameFlags.None, streamId, payload);
    }

    private void AppendRstStreamLocked(int streamId, Http2ErrorCode code)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, (int)code);
        AppendFrameLocked(FrameType.RstStream, FrameFlags.None, streamId, payload);
    }

    private void AppendGoAwayLocked(int lastStreamId, Http2ErrorCode code)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(payload, lastStreamId);
        BinaryPrimitives.WriteInt32BigEndian(payload[4..], (int)code);
        AppendFrameLocked(FrameType.GoAway, FrameFlags.None, 0, payload);
    }

    private void AppendHeadersLocked(int streamId, ReadOnlySpan<byte> block, bool endStream)
    {
        // A block larger than the peer's frame size continues in CONTINUATION frames, back to back (RFC 9113 §6.10).
        var first = Math.Min(block.Length, _peerMaxFrameSize);
        var flags = (byte)((endStream ? FrameFlags.EndStream : 0) | (first == block.Length ? FrameFlags.EndHeaders : 0));
        AppendFrameLocked(FrameType.Headers, flags, streamId, block[..first]);
        block = block[first..];
        while (!block.IsEmpty)
        {
            var size = Math.Min(block.Length, _peerMaxFrameSize);
            AppendFrameLocked(FrameType.Continuation, size == block.Length ? FrameFlags.EndHeaders : FrameFlags.None, streamId, block[..size]);
            block = block[size..];
        }
    }

    /// <summary>
    /// Sends <paramref name="data"/> as DATA frames within the peer's flow-control windows, waiting for credit
    /// and for the writer loop when too much is pending. One copy: caller memory into the write buffer.
    /// </summary>
    internal async ValueTask SendDataAsync(Http2ClientStream stream, ReadOnlyMemory<byte> data, bool endStream, CancellationToken cancellationToken)
    {
        var sentEnd = false;
        while (!data.IsEmpty || (endStream && !sentEnd))
        {
            Task? waitForWindow = null;
            Task? waitForDrain = null;
            int chunk;
            lock (_lock)
            {
                stream.ThrowIfCannotSendLocked();
                if (_abortReason is not null)
                {
                    throw CreateUnusableException();
                }

                chunk = (int)Math.Min(Math.Min(data.Length, _peerMaxFrameSize), Math.Min(_connectionSendWindow, stream.SendWindow));
                if (chunk > 0 || data.IsEmpty)
                {
                    chunk = Math.Max(chunk, 0);
                    var last = endStream && chunk == data.Length;
                    AppendFrameLocked(FrameType.Data, last ? FrameFlags.EndStream : FrameFlags.None, stream.Id, data.Span[..chunk]);
                    _connectionSendWindow -= chunk;
                    stream.SendWindow -= chunk;
                    if (last)
                    {
                        stream.MarkLocalEnded();
                        sentEnd = true;
                    }

                    ScheduleWriteLocked();
                    if (_pending.Length >= MaxPendingBytes)
                    {
                        waitForDrain = (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                    }
                }
                else
                {
                    waitForWindow = (_windowWaiters ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }
            }

            if (waitForWindow is not null)
            {
                await waitForWindow.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            data = data[chunk..];
            if (waitForDrain is not null)
            {
                await waitForDrain.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (stream.IsFinished)
        {
            RemoveStream(stream);
        }
    }

    /// <summary>Sends RST_STREAM for a stream the caller gives up on.</summary>
    internal void ResetStream(Http2ClientStream stream, Http2ErrorCode code)
    {
        lock (_lock)
        {
            if (_abortReason is null && _streams.ContainsKey(stream.Id))
            {
                AppendRstStreamLocked(stream.Id, code);
                ScheduleWriteLocked();
            }
        }

        RemoveStream(stream);
    }

    /// <summary>Returns receive credit once the application consumed data, in batches of a quarter window.</summary>
    internal void OnDataConsumed(Http2ClientStream stream, int count)
    {
        if (count <= 0)
        {
            return;
        }

        lock (_lock)
        {
            if (_abortReason is not null)
            {
                return;
            }

            _connectionReceiveUnacked += count;
            if (_connectionReceiveUnacked >= _settings.InitialConnectionWindowSize / 4)
            {
                AppendWindowUpdateLocked(0, _connectionReceiveUnacked);
                _connectionReceiveAvailable += _connectionReceiveUnacked;
                _connectionReceiveUnacked = 0;
                ScheduleWriteLocked();
            }

            // A stream whose peer already ended needs no more credit.
            if (!stream.RemoteEnded)
            {
                stream.ReceiveUnacked += count;
                if (stream.ReceiveUnacked >= _settings.InitialStreamWindowSize / 4)
                {
                    AppendWindowUpdateLocked(stream.Id, stream.ReceiveUnacked);
                    stream.ReceiveAvailable += stream.ReceiveUnacked;
                    stream.ReceiveUnacked = 0;
                    ScheduleWriteLocked();
                }
            }
        }
    }
}
