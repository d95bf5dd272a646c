using System.Buffers.Binary;

namespace Hbone.Http2;

internal sealed partial class Http2ClientConnection
{
    /// <summary>Batches a DATA sender writes itself before handing the writer role to the writer loop.</summary>
    private const int InlineWriteBatches = 4;

    /// <summary>DATA appended per write: four record-aligned frames, exactly 64 KiB on the wire.</summary>
    private const int MaxDataPerWrite = 4 * FrameHeader.RecordAlignedDataPayload;

    /// <summary>
    /// Writes frames other callers appended (control frames from the reader loop, PINGs) whenever no caller is
    /// writing already. Callers append frames to <see cref="_pending"/> under the lock; whoever holds the writer
    /// role (<see cref="_writing"/>) writes everything appended meanwhile in one call.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                await _writeSignal.WaitAsync().ConfigureAwait(false);
                bool claimed;
                bool aborting;
                lock (_lock)
                {
                    _writeScheduled = false;
                    claimed = !_writing;
                    _writing = true;
                    aborting = _abortReason is not null;
                }

                if (claimed)
                {
                    await DrainAsync().ConfigureAwait(false);
                }

                lock (_lock)
                {
                    // After an abort, leave once whoever holds the role has written what was pending (a GOAWAY).
                    aborting |= _abortReason is not null;
                    if (aborting && !_writing && _pending.Length == 0)
                    {
                        break;
                    }
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

    /// <summary>
    /// With the writer role held: writes batches until nothing is pending, then gives the role up. A DATA sender
    /// that finds nobody writing calls this itself, saving a hop to the writer loop on the latency path.
    /// </summary>
    private async ValueTask DrainAsync(int maxBatches = int.MaxValue)
    {
        for (var batches = 0; ; batches++)
        {
            WriteBuffer batch;
            lock (_lock)
            {
                if (batches >= maxBatches && _pending.Length > 0)
                {
                    // An inline writer does not keep writing other streams' frames forever: the loop takes over.
                    _writing = false;
                    ScheduleWriteLocked();
                    return;
                }

                if (_pending.Length == 0)
                {
                    _writing = false;
                    if (_abortReason is not null)
                    {
                        // The writer loop may be waiting to close the transport after the last write.
                        _writeSignal.Release();
                    }

                    return;
                }

                (batch, _sending, _pending) = (_pending, _pending, _sending);
            }

            try
            {
                await _transport.WriteAsync(batch.Written).ConfigureAwait(false);
                await _transport.FlushAsync().ConfigureAwait(false);
            }
            catch
            {
                lock (_lock)
                {
                    batch.Reset();
                    _writing = false;
                }

                throw;
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
            }

            drained?.TrySetResult();
        }
    }

    private void ScheduleWriteLocked()
    {
        // Whoever holds the writer role writes what was appended; otherwise wake the writer loop once.
        if (!_writeScheduled && !_writing)
        {
            _writeScheduled = true;
            _writeSignal.Release();
        }
    }

    /// <summary>Takes the writer role for the caller when nobody holds it; the caller then calls <see cref="DrainAsync"/>.</summary>
    private bool TryClaimWriterLocked()
    {
        if (_writing || _abortReason is not null)
        {
            return false;
        }

        _writing = true;
        return true;
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
            var writeInline = false;
            int chunk;
            lock (_lock)
            {
                stream.ThrowIfCannotSendLocked();
                if (_abortReason is not null)
                {
                    throw CreateUnusableException();
                }

                // Up to four frames go in before one write: the TLS layer then sends several records per system
                // call instead of one per frame, and a large write still waits for the writer between batches.
                chunk = (int)Math.Min(Math.Min(data.Length, MaxDataPerWrite), Math.Min(_connectionSendWindow, stream.SendWindow));
                if (chunk > 0 || data.IsEmpty)
                {
                    chunk = Math.Max(chunk, 0);
                    var last = endStream && chunk == data.Length;
                    var frames = data.Span[..chunk];
                    do
                    {
                        var size = Math.Min(frames.Length, FrameHeader.RecordAlignedDataPayload);
                        var final = last && size == frames.Length;
                        AppendFrameLocked(FrameType.Data, final ? FrameFlags.EndStream : FrameFlags.None, stream.Id, frames[..size]);
                        frames = frames[size..];
                    }
                    while (!frames.IsEmpty);

                    _connectionSendWindow -= chunk;
                    stream.SendWindow -= chunk;
                    if (last)
                    {
                        stream.MarkLocalEnded();
                        sentEnd = true;
                    }

                    if (!(writeInline = TryClaimWriterLocked()))
                    {
                        ScheduleWriteLocked();
                    }

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
            if (writeInline)
            {
                try
                {
                    await DrainAsync(InlineWriteBatches).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or NotSupportedException)
                {
                    var failure = new HboneException(HboneErrorReason.ConnectionFailed, "Writing to the HTTP/2 connection failed.", ex);
                    Abort(failure);
                    throw failure;
                }

                continue;
            }

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

            CreditConnectionLocked(count);

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
