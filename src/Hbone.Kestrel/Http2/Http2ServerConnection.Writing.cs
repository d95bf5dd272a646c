using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Hbone.Http2;
using Hbone.Http2.Hpack;

namespace Hbone.Kestrel.Http2;

internal sealed partial class Http2ServerConnection
{
    // Output state, guarded by _lock. Kestrel's TLS output is a stream writer that must not be written while it
    // flushes: frames produced meanwhile wait in _overflow, and the flush loop moves them over when it returns.
    private readonly WriteBuffer _overflow = new();
    private readonly int[] _endedByPeer = new int[32];
    private int _endedByPeerNext;
    private bool _flushing;
    private bool _outputFailed;
    private Task _flushTask = Task.CompletedTask;
    private long _unflushed;
    private long _inFlight;
    private long _backlogSince;

    // Bytes handed to the transport but not yet taken by it, plus those waiting for the next flush.
    private long Backlog => _inFlight + _overflow.Length;

    /// <summary>
    /// Frames <paramref name="data"/> as DATA within the peer's windows and waits until the transport took it.
    /// False when the stream or the connection can no longer send.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> SendDataAsync(Http2ServerStream stream, ReadOnlyMemory<byte> data, bool endStream, CancellationToken cancellationToken = default)
    {
        var offset = 0;
        while (true)
        {
            Task wait;
            bool done;
            lock (_lock)
            {
                if (_closed || _outputFailed || stream.IsReset || stream.LocalClosed)
                {
                    return false;
                }

                while (offset < data.Length)
                {
                    var size = (int)Math.Min(Math.Min(data.Length - offset, FrameHeader.RecordAlignedDataPayload), Math.Min(stream.SendWindow, _connectionSendWindow));
                    if (size <= 0)
                    {
                        break;
                    }

                    var last = endStream && offset + size == data.Length;
                    WriteFrameLocked(FrameType.Data, last ? FrameFlags.EndStream : FrameFlags.None, stream.Id, data.Span.Slice(offset, size), control: false);
                    stream.SendWindow -= size;
                    _connectionSendWindow -= size;
                    offset += size;
                    stream.DataFramesUnanswered++;
                    _connectionDataFramesUnanswered++;
                }

                done = offset == data.Length;
                if (done)
                {
                    if (endStream)
                    {
                        if (data.Length == 0)
                        {
                            WriteFrameLocked(FrameType.Data, FrameFlags.EndStream, stream.Id, [], control: false);
                        }

                        stream.LocalClosed = true;
                        CloseIfDoneLocked(stream);
                    }

                    wait = FlushLocked();
                }
                else
                {
                    _ = FlushLocked();
                    wait = stream.WaitForWindowLocked();
                }
            }

            await (cancellationToken.CanBeCanceled ? wait.WaitAsync(cancellationToken) : wait).ConfigureAwait(false);
            if (done)
            {
                return true;
            }
        }
    }

    /// <summary>Sends the response HEADERS (<c>:status</c> only); with END_STREAM the server's side is done.</summary>
    public Task SendHeadersAsync(Http2ServerStream stream, int status, bool endStream)
    {
        lock (_lock)
        {
            if (_closed || _outputFailed || stream.IsReset || stream.LocalClosed)
            {
                return Task.CompletedTask;
            }

            WriteHeadersLocked(stream.Id, status, endStream);
            stream.Answered = true;
            if (endStream)
            {
                stream.LocalClosed = true;
                CloseIfDoneLocked(stream);
            }

            return FlushLocked();
        }
    }

    /// <summary>Resets a stream from the server side (application reset, tunnel failure, refusal).</summary>
    public void ResetStream(Http2ServerStream stream, Http2ErrorCode code)
    {
        lock (_lock)
        {
            if (stream.IsReset || (stream.Removed && stream.LocalClosed))
            {
                return;
            }

            ResetStreamLocked(stream, code, Http2ServerStream.LocalResetException(code), control: false);
            _ = FlushLocked();
        }
    }

    /// <summary>Wakes a sender waiting for window, so it re-checks the stream's state.</summary>
    public void WakeStream(Http2ServerStream stream)
    {
        lock (_lock)
        {
            stream.WakeWindowWaiterLocked();
        }
    }

    /// <summary>The consumer advanced past <paramref name="count"/> bytes: the windows get them back.</summary>
    public void OnInputConsumed(Http2ServerStream stream, long count)
    {
        lock (_lock)
        {
            if (_closed || stream.InputDetached)
            {
                return;
            }

            stream.Unconsumed -= count;
            CreditConnectionLocked((int)count);
            CreditStreamLocked(stream, (int)count);
            _ = FlushLocked();
        }
    }

    /// <summary>The consumer stopped reading: what it left and what still arrives is returned to the peer's window.</summary>
    public void OnInputCompleted(Http2ServerStream stream)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            CreditConnectionLocked((int)stream.DetachInputLocked(null));
            _ = FlushLocked();
        }
    }

    private void ResetStreamLocked(Http2ServerStream stream, Http2ErrorCode code, Exception reason, bool control = true)
    {
        WriteRstStreamLocked(stream.Id, code, control);
        RemoveStreamLocked(stream);
        CreditConnectionLocked((int)stream.AbortLocked(reason));
    }

    private void RemoveStreamLocked(Http2ServerStream stream)
    {
        if (!stream.Removed)
        {
            stream.Removed = true;
            _streams.Remove(stream.Id);
            if (stream.RemoteClosed)
            {
                _endedByPeer[(int)((uint)_endedByPeerNext++ % (uint)_endedByPeer.Length)] = stream.Id;
            }

            _closedStreamDataFramesUnanswered = (int)Math.Min(int.MaxValue / 2, (long)_closedStreamDataFramesUnanswered + stream.DataFramesUnanswered);
            CloseIfIdleLocked();
        }
    }

    // The last closed streams the peer had ended: frames on them are STREAM_CLOSED stream errors, not noise to ignore.
    private bool WasEndedByPeerLocked(int streamId) => Array.IndexOf(_endedByPeer, streamId) >= 0;

    private void CloseIfDoneLocked(Http2ServerStream stream)
    {
        if (stream.RemoteClosed && stream.LocalClosed)
        {
            RemoveStreamLocked(stream);
        }
    }

    private void CreditConnectionLocked(int count)
    {
        if (count <= 0)
        {
            return;
        }

        _connectionReceiveUnacknowledged += count;
        if (_connectionReceiveUnacknowledged >= _options.InitialConnectionWindowSize / 2)
        {
            WriteWindowUpdateLocked(0, _connectionReceiveUnacknowledged);
            _connectionReceiveWindow += _connectionReceiveUnacknowledged;
            _connectionReceiveUnacknowledged = 0;
        }
    }

    private void CreditStreamLocked(Http2ServerStream stream, int count)
    {
        if (count <= 0 || stream.RemoteClosed || stream.Removed)
        {
            return;
        }

        stream.ReceiveUnacknowledged += count;
        if (stream.ReceiveUnacknowledged >= _options.InitialStreamWindowSize / 2)
        {
            WriteWindowUpdateLocked(stream.Id, stream.ReceiveUnacknowledged);
            stream.ReceiveWindow += stream.ReceiveUnacknowledged;
            stream.ReceiveUnacknowledged = 0;
        }
    }

    private void WriteSettingsLocked()
    {
        Span<byte> payload = stackalloc byte[6 * 6];
        WriteSetting(payload, SettingId.HeaderTableSize, 4096);
        WriteSetting(payload[6..], SettingId.EnablePush, 0);
        WriteSetting(payload[12..], SettingId.MaxConcurrentStreams, (uint)_options.MaxStreamsPerConnection);
        WriteSetting(payload[18..], SettingId.InitialWindowSize, (uint)_options.InitialStreamWindowSize);
        WriteSetting(payload[24..], SettingId.MaxFrameSize, (uint)_options.MaxFrameSize);
        WriteSetting(payload[30..], SettingId.MaxHeaderListSize, (uint)_options.MaxRequestHeadersTotalSize);
        WriteFrameLocked(FrameType.Settings, FrameFlags.None, 0, payload, control: false);
        if (_options.InitialConnectionWindowSize > DefaultWindow)
        {
            WriteWindowUpdateLocked(0, _options.InitialConnectionWindowSize - DefaultWindow);
            _connectionReceiveWindow = _options.InitialConnectionWindowSize;
        }

        static void WriteSetting(Span<byte> destination, ushort id, uint value)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination, id);
            BinaryPrimitives.WriteUInt32BigEndian(destination[2..], value);
        }
    }

    private void WriteWindowUpdateLocked(int streamId, int increment)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, increment);
        WriteFrameLocked(FrameType.WindowUpdate, FrameFlags.None, streamId, payload, control: false);
    }

    private void WriteRstStreamLocked(int streamId, Http2ErrorCode code, bool control)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, (int)code);
        WriteFrameLocked(FrameType.RstStream, FrameFlags.None, streamId, payload, control);
    }

    private void WriteGoAwayLocked(Http2ErrorCode code)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(payload, _lastProcessedStreamId);
        BinaryPrimitives.WriteInt32BigEndian(payload[4..], (int)code);
        _goAwaySent = true;
        WriteFrameLocked(FrameType.GoAway, FrameFlags.None, 0, payload, control: false);
    }

    private void WriteHeadersLocked(int streamId, int status, bool endStream)
    {
        Span<byte> block = stackalloc byte[8];
        var length = 0;
        if (_tableSizeUpdatePending)
        {
            // The encoder never indexes, so a dynamic table of size 0 is always within the peer's limit.
            block[length++] = 0x20;
            _tableSizeUpdatePending = false;
        }

        var index = status switch { 200 => 8, 204 => 9, 206 => 10, 304 => 11, 400 => 12, 404 => 13, 500 => 14, _ => 0 };
        int written;
        if (index != 0)
        {
            HpackEncoder.TryEncodeIndexed(index, block[length..], out written);
        }
        else
        {
            Span<char> digits = stackalloc char[3];
            status.TryFormat(digits, out _, provider: System.Globalization.CultureInfo.InvariantCulture);
            HpackEncoder.TryEncodeHeader(8, digits, block[length..], out written);
        }

        length += written;

        var flags = (byte)(FrameFlags.EndHeaders | (endStream ? FrameFlags.EndStream : FrameFlags.None));
        WriteFrameLocked(FrameType.Headers, flags, streamId, block[..length], control: false);
    }

    /// <summary>
    /// Appends one frame to the transport writer. Control answers (<paramref name="control"/>) are dropped while
    /// the peer leaves a megabyte unread: a peer that floods and never reads cannot make the server buffer.
    /// </summary>
    private void WriteFrameLocked(FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload, bool control)
    {
        if (_outputFailed || (_closed && type != FrameType.GoAway))
        {
            return;
        }

        if (control && Backlog >= MaxOutputBacklog)
        {
            return;
        }

        var size = FrameHeader.Size + payload.Length;
        var span = _flushing ? _overflow.GetSpan(size) : _output.GetSpan(size);
        FrameHeader.Write(span, payload.Length, type, flags, streamId);
        payload.CopyTo(span[FrameHeader.Size..]);
        if (_flushing)
        {
            _overflow.Advance(size);
        }
        else
        {
            _output.Advance(size);
            _unflushed += size;
        }

        if (Backlog + _unflushed >= MaxOutputBacklog && _backlogSince == 0)
        {
            _backlogSince = System.Diagnostics.Stopwatch.GetTimestamp();
        }
    }

    /// <summary>Flushes what was written; returns a task that completes when the transport took it.</summary>
    private Task FlushLocked()
    {
        if (_flushing || _outputFailed || _unflushed == 0)
        {
            // A running flush loop also takes whatever waits in the overflow.
            return _flushing ? _flushTask : Task.CompletedTask;
        }

        ValueTask<FlushResult> pending;
        try
        {
            _inFlight = _unflushed;
            _unflushed = 0;
            pending = _output.FlushAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            OutputFailedLocked(ex.Message);
            return Task.CompletedTask;
        }

        if (pending.IsCompletedSuccessfully)
        {
            var result = pending.Result;
            _inFlight = 0;
            _backlogSince = 0;
            if (result.IsCompleted || result.IsCanceled)
            {
                OutputFailedLocked("the transport no longer takes output");
            }

            return Task.CompletedTask;
        }

        _flushing = true;
        _flushTask = FlushLoopAsync(pending);
        return _flushTask;
    }

    private async Task FlushLoopAsync(ValueTask<FlushResult> pending)
    {
        try
        {
            while (true)
            {
                var result = await pending.ConfigureAwait(false);
                lock (_lock)
                {
                    _inFlight = 0;
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        _flushing = false;
                        OutputFailedLocked("the transport no longer takes output");
                        return;
                    }

                    if (_overflow.Length == 0 || _outputFailed)
                    {
                        _flushing = false;
                        _backlogSince = 0;
                        _overflow.Reset();
                        return;
                    }

                    // What was produced during the flush goes out in one more write.
                    _output.Write(_overflow.Written.Span);
                    _inFlight = _overflow.Length;
                    _overflow.Reset();
                    if (_inFlight < MaxOutputBacklog)
                    {
                        _backlogSince = 0;
                    }

                    pending = _output.FlushAsync();
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            lock (_lock)
            {
                _flushing = false;
                OutputFailedLocked(ex.Message);
            }
        }
    }

    private void OutputFailedLocked(string reason)
    {
        _outputFailed = true;
        foreach (var stream in _streams.Values)
        {
            stream.WakeWindowWaiterLocked();
        }

        FailLocked(null, reason);
    }
}
