using System.Buffers;
using System.Buffers.Binary;

namespace Hbone.Http2;

internal sealed partial class Http2ClientConnection
{
    private readonly WriteBuffer _headerBlock = new();
    private readonly ResponseHeaderCollector _headerCollector = new();
    private int _headerStreamId;
    private bool _headerEndStream;

    private async Task ReadLoopAsync()
    {
        Exception? failure = null;
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(_shutdown.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var buffered = buffer.Length;
                var consumed = long.MaxValue; // a read that failed half-way wakes its readers on the thread pool
                _streamReaderScheduler.BeginRead();
                try
                {
                    while (TryReadFrame(ref buffer, out var header, out var payload))
                    {
                        ProcessFrame(header, payload);
                    }

                    consumed = buffered - buffer.Length;
                }
                finally
                {
                    _input.AdvanceTo(buffer.Start, buffer.End);
                    _streamReaderScheduler.EndRead(consumed);
                }

                if (result.IsCompleted)
                {
                    failure = new HboneException(HboneErrorReason.ConnectionFailed, "The server closed the HTTP/2 connection.");
                    break;
                }
            }
        }
        catch (Http2ProtocolException ex)
        {
            // A connection error: tell the peer why (GOAWAY), then close (RFC 9113 §5.4.1).
            lock (_lock)
            {
                if (_abortReason is null)
                {
                    AppendGoAwayLocked(_highestStreamId, ex.ErrorCode);
                    ScheduleWriteLocked();
                }
            }

            Abort(new HboneException(HboneErrorReason.ConnectionFailed, $"HTTP/2 connection error {ex.ErrorCode}: {ex.Message}", ex), flushFirst: true);
            return;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or System.Security.Authentication.AuthenticationException)
        {
            failure = new HboneException(HboneErrorReason.ConnectionFailed, "Reading from the HTTP/2 connection failed.", ex);
        }

        Abort(failure);
    }

    private bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out FrameHeader header, out ReadOnlySequence<byte> payload)
    {
        payload = default;
        header = default;
        if (buffer.Length < FrameHeader.Size)
        {
            return false;
        }

        header = FrameHeader.Read(buffer);
        if (header.Length > _settings.MaxFrameSize)
        {
            throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, $"{header.Type} frame of {header.Length} bytes exceeds SETTINGS_MAX_FRAME_SIZE {_settings.MaxFrameSize}.");
        }

        if (buffer.Length < FrameHeader.Size + header.Length)
        {
            return false;
        }

        payload = buffer.Slice(FrameHeader.Size, header.Length);
        buffer = buffer.Slice(FrameHeader.Size + header.Length);
        return true;
    }

    private void ProcessFrame(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        // Between HEADERS without END_HEADERS and the last CONTINUATION nothing else may arrive (RFC 9113 §6.10).
        if (_headerStreamId != 0 && (header.Type != FrameType.Continuation || header.StreamId != _headerStreamId))
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, $"{header.Type} frame interrupted a header block.");
        }

        switch (header.Type)
        {
            case FrameType.Data:
                OnData(header, payload);
                break;
            case FrameType.Headers:
                OnHeaders(header, payload);
                break;
            case FrameType.Continuation:
                OnContinuation(header, payload);
                break;
            case FrameType.RstStream:
                OnRstStream(header, payload);
                break;
            case FrameType.Settings:
                OnSettings(header, payload);
                break;
            case FrameType.Ping:
                OnPing(header, payload);
                break;
            case FrameType.GoAway:
                OnGoAway(header, payload);
                break;
            case FrameType.WindowUpdate:
                OnWindowUpdate(header, payload);
                break;
            case FrameType.Priority:
                if (header.StreamId == 0 || header.Length != 5)
                {
                    throw new Http2ProtocolException(header.StreamId == 0 ? Http2ErrorCode.ProtocolError : Http2ErrorCode.FrameSizeError, "Malformed PRIORITY frame.");
                }

                break;
            case FrameType.PushPromise:
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "PUSH_PROMISE received although SETTINGS_ENABLE_PUSH is 0.");
            default:
                // Unknown frame types are ignored (RFC 9113 §4.1).
                break;
        }
    }

    private void OnData(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        var data = StripPadding(header, payload);
        Http2ClientStream? stream;
        lock (_lock)
        {
            RequireKnownStreamId(header);
            _connectionReceiveAvailable -= header.Length;
            if (_connectionReceiveAvailable < 0)
            {
                throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, "DATA exceeded the connection receive window.");
            }

            _streams.TryGetValue(header.StreamId, out stream);
            if (stream is not null)
            {
                stream.ReceiveAvailable -= header.Length;
                if (stream.ReceiveAvailable < 0)
                {
                    throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, $"DATA exceeded the receive window of stream {header.StreamId}.");
                }
            }
        }

        // Padding, and data no stream took (gone, failed or already ended), is credited back at once: nobody will consume it.
        var delivered = stream?.OnData(data, header.HasFlag(FrameFlags.EndStream)) ?? 0;
        var unread = header.Length - delivered;
        if (unread > 0)
        {
            CreditConnection(unread);
        }
    }

    /// <summary>Returns connection receive window for bytes that will never be consumed.</summary>
    internal void CreditConnection(int count)
    {
        lock (_lock)
        {
            if (_abortReason is null)
            {
                CreditConnectionLocked(count);
            }
        }
    }

    /// <summary>Counts bytes given back to the connection window; sends WINDOW_UPDATE per quarter window.</summary>
    private void CreditConnectionLocked(int count)
    {
        _connectionReceiveUnacked += count;
        if (_connectionReceiveUnacked >= _settings.InitialConnectionWindowSize / 4)
        {
            AppendWindowUpdateLocked(0, _connectionReceiveUnacked);
            _connectionReceiveAvailable += _connectionReceiveUnacked;
            _connectionReceiveUnacked = 0;
            ScheduleWriteLocked();
        }
    }

    private void OnHeaders(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        lock (_lock)
        {
            RequireKnownStreamId(header);
        }

        var block = StripPadding(header, payload);
        if (header.HasFlag(FrameFlags.Priority))
        {
            if (block.Length < 5)
            {
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "HEADERS priority fields are truncated.");
            }

            block = block.Slice(5);
        }

        _headerStreamId = header.StreamId;
        _headerEndStream = header.HasFlag(FrameFlags.EndStream);
        if (header.HasFlag(FrameFlags.EndHeaders) && block.IsSingleSegment)
        {
            // The usual response: one frame, decoded where it lies, with no copy and no buffer held afterwards.
            CompleteHeaderBlock(block.FirstSpan);
            return;
        }

        _headerBlock.Reset();
        AppendHeaderFragment(block);
        if (header.HasFlag(FrameFlags.EndHeaders))
        {
            CompleteHeaderBlock();
        }
    }

    private void OnContinuation(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (_headerStreamId == 0)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "CONTINUATION without a preceding HEADERS.");
        }

        AppendHeaderFragment(payload);
        if (header.HasFlag(FrameFlags.EndHeaders))
        {
            CompleteHeaderBlock();
        }
    }

    private void AppendHeaderFragment(in ReadOnlySequence<byte> fragment)
    {
        // Bounds memory against endless CONTINUATION: a block may not exceed twice the header list limit.
        if (_headerBlock.Length + fragment.Length > 2L * _settings.MaxHeaderListSize)
        {
            throw new Http2ProtocolException(Http2ErrorCode.EnhanceYourCalm, "Header block exceeds the header list limit.");
        }

        foreach (var segment in fragment)
        {
            _headerBlock.Write(segment.Span);
        }
    }

    private void CompleteHeaderBlock()
    {
        try
        {
            CompleteHeaderBlock(_headerBlock.Written.Span);
        }
        finally
        {
            // An idle connection keeps no block buffer (16 KiB once rented).
            _headerBlock.Reset();
        }
    }

    private void CompleteHeaderBlock(ReadOnlySpan<byte> block)
    {
        var streamId = _headerStreamId;
        _headerStreamId = 0;
        _headerCollector.Reset();
        try
        {
            // Decoded even for streams already gone: the HPACK table must stay in step with the peer's.
            _decoder.Decode(block, _headerCollector);
        }
        catch (Hpack.HpackDecodingException ex)
        {
            throw new Http2ProtocolException(Http2ErrorCode.CompressionError, ex.Message);
        }
        catch (Hpack.HpackHeaderListTooLargeException ex)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, ex.Message);
        }

        Http2ClientStream? stream;
        lock (_lock)
        {
            _streams.TryGetValue(streamId, out stream);
        }

        stream?.OnHeaders(_headerCollector, _headerEndStream);
    }

    private void OnRstStream(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.StreamId == 0 || header.Length != 4)
        {
            throw new Http2ProtocolException(header.StreamId == 0 ? Http2ErrorCode.ProtocolError : Http2ErrorCode.FrameSizeError, "Malformed RST_STREAM frame.");
        }

        Http2ClientStream? stream;
        lock (_lock)
        {
            RequireKnownStreamId(header);
            _streams.TryGetValue(header.StreamId, out stream);
        }

        if (stream is not null)
        {
            stream.OnReset((Http2ErrorCode)ReadInt32(payload));
            RemoveStream(stream);
        }
    }

    private void OnSettings(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (PeerSettingRules.ValidateFrame(header))
        {
            return;
        }

        Span<byte> buffer = stackalloc byte[6];
        TaskCompletionSource? waiters;
        lock (_lock)
        {
            var reader = new SequenceReader<byte>(payload);
            while (reader.TryCopyTo(buffer))
            {
                reader.Advance(6);
                ApplySettingLocked(BinaryPrimitives.ReadUInt16BigEndian(buffer), BinaryPrimitives.ReadUInt32BigEndian(buffer[2..]));
            }

            AppendFrameLocked(FrameType.Settings, FrameFlags.Ack, 0, ReadOnlySpan<byte>.Empty);
            ScheduleWriteLocked();
            waiters = _windowWaiters;
            _windowWaiters = null;
        }

        waiters?.TrySetResult();
        _peerSettingsReceived.TrySetResult();
    }

    private void ApplySettingLocked(ushort id, uint value)
    {
        PeerSettingRules.Validate(id, value);
        switch (id)
        {
            case SettingId.MaxConcurrentStreams:
                _peerMaxConcurrentStreams = (int)Math.Min(value, int.MaxValue);
                break;
            case SettingId.InitialWindowSize:
                // A new initial window shifts every open stream's send window by the difference (RFC 9113 §6.9.2).
                var delta = (int)value - _peerInitialWindow;
                _peerInitialWindow = (int)value;
                foreach (var stream in _streams.Values)
                {
                    stream.SendWindow += delta;
                    if (stream.SendWindow > int.MaxValue)
                    {
                        throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, "A stream window exceeded 2^31-1.");
                    }
                }

                break;
            case SettingId.MaxFrameSize:
                _peerMaxFrameSize = (int)value;
                break;
        }
    }

    private void OnPing(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.StreamId != 0 || header.Length != 8)
        {
            throw new Http2ProtocolException(header.StreamId != 0 ? Http2ErrorCode.ProtocolError : Http2ErrorCode.FrameSizeError, "Malformed PING frame.");
        }

        Span<byte> data = stackalloc byte[8];
        payload.CopyTo(data);
        if (header.HasFlag(FrameFlags.Ack))
        {
            OnPingAck(BinaryPrimitives.ReadInt64BigEndian(data));
            return;
        }

        lock (_lock)
        {
            AppendFrameLocked(FrameType.Ping, FrameFlags.Ack, 0, data);
            ScheduleWriteLocked();
        }
    }

    private void OnGoAway(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.StreamId != 0 || header.Length < 8)
        {
            throw new Http2ProtocolException(header.StreamId != 0 ? Http2ErrorCode.ProtocolError : Http2ErrorCode.FrameSizeError, "Malformed GOAWAY frame.");
        }

        Span<byte> data = stackalloc byte[8];
        payload.Slice(0, 8).CopyTo(data);
        var lastStreamId = BinaryPrimitives.ReadInt32BigEndian(data) & int.MaxValue;
        var code = (Http2ErrorCode)BinaryPrimitives.ReadInt32BigEndian(data[4..]);
        List<Http2ClientStream>? refused = null;
        lock (_lock)
        {
            _goAwayReceived = true;
            _goAwayLastStreamId = Math.Min(_goAwayLastStreamId, lastStreamId);
            foreach (var stream in _streams.Values)
            {
                if (stream.Id > lastStreamId)
                {
                    (refused ??= []).Add(stream);
                }
            }
        }

        // Streams above the last id were never processed: they fail as retryable (REFUSED_STREAM semantics).
        if (refused is not null)
        {
            foreach (var stream in refused)
            {
                stream.OnReset(Http2ErrorCode.RefusedStream);
                RemoveStream(stream);
            }
        }

        Log.GoAwayReceived(_logger, lastStreamId, code);
    }

    private void OnWindowUpdate(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.Length != 4)
        {
            throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, "WINDOW_UPDATE length is not 4.");
        }

        var increment = ReadInt32(payload) & int.MaxValue;
        TaskCompletionSource? waiters;
        lock (_lock)
        {
            if (header.StreamId == 0)
            {
                if (increment == 0)
                {
                    throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "WINDOW_UPDATE with increment 0.");
                }

                _connectionSendWindow += increment;
                if (_connectionSendWindow > int.MaxValue)
                {
                    throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, "Connection window exceeded 2^31-1.");
                }
            }
            else
            {
                RequireKnownStreamId(header);
                if (_streams.TryGetValue(header.StreamId, out var stream))
                {
                    if (increment == 0 || stream.SendWindow + increment > int.MaxValue)
                    {
                        // A stream error: only this stream is reset (RFC 9113 §6.9, §6.9.1).
                        AppendRstStreamLocked(stream.Id, increment == 0 ? Http2ErrorCode.ProtocolError : Http2ErrorCode.FlowControlError);
                        ScheduleWriteLocked();
                        _streams.Remove(stream.Id);
                        ReleaseLocked();
                        stream.FailLocalProtocolError(increment == 0 ? Http2ErrorCode.ProtocolError : Http2ErrorCode.FlowControlError);
                    }
                    else
                    {
                        stream.SendWindow += increment;
                    }
                }
            }

            waiters = _windowWaiters;
            _windowWaiters = null;
        }

        waiters?.TrySetResult();
    }

    private void RequireKnownStreamId(in FrameHeader header)
    {
        // Frames for streams we never opened (even ids, or above our highest) are connection errors (RFC 9113 §5.1.1).
        if (header.StreamId == 0 || (header.StreamId & 1) == 0 || header.StreamId > _highestStreamId)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, $"{header.Type} on stream {header.StreamId}, which this client never opened.");
        }
    }

    private static ReadOnlySequence<byte> StripPadding(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (!header.HasFlag(FrameFlags.Padded))
        {
            return payload;
        }

        if (payload.Length < 1)
        {
            throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, "Padded frame without a pad length.");
        }

        var padLength = payload.FirstSpan[0];
        if (padLength >= payload.Length)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "Padding longer than the frame.");
        }

        return payload.Slice(1, payload.Length - 1 - padLength);
    }

    private static int ReadInt32(in ReadOnlySequence<byte> payload)
    {
        Span<byte> data = stackalloc byte[4];
        payload.Slice(0, 4).CopyTo(data);
        return BinaryPrimitives.ReadInt32BigEndian(data);
    }
}
