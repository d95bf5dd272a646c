using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using Hbone.Http2;
using Hbone.Http2.Hpack;

namespace Hbone.Kestrel.Http2;

internal sealed partial class Http2ServerConnection
{
    private static ReadOnlySpan<byte> ClientPreface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private bool _prefaceReceived;
    private bool _settingsReceived;

    // The header block being received: HEADERS then CONTINUATION frames, copied only when split.
    private byte[]? _block;
    private int _blockLength;
    private int _blockStreamId;
    private bool _blockEndStream;
    private int _blockContinuations;
    private long _blockStarted;

    private async Task ReadLoopAsync()
    {
        while (true)
        {
            var result = await _input.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            if (result.IsCanceled)
            {
                _input.AdvanceTo(buffer.Start);
                lock (_lock)
                {
                    if (_pendingError is { } error)
                    {
                        throw error;
                    }

                    if (_gracefulClose || _abortReason is not null)
                    {
                        return;
                    }
                }

                continue;
            }

            Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
            var buffered = buffer.Length;
            var consumed = long.MaxValue; // a read that failed half-way wakes its readers on the thread pool
            _streamReaderScheduler.BeginRead();
            try
            {
                if (!_prefaceReceived && !TryReadPreface(ref buffer))
                {
                    if (result.IsCompleted)
                    {
                        return;
                    }

                    continue;
                }

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
                lock (_lock)
                {
                    _abortReason ??= "The peer closed the connection.";
                }

                return;
            }
        }
    }

    private bool TryReadPreface(ref ReadOnlySequence<byte> buffer)
    {
        var available = (int)Math.Min(buffer.Length, ClientPreface.Length);
        Span<byte> head = stackalloc byte[ClientPreface.Length];
        buffer.Slice(0, available).CopyTo(head);
        if (!head[..available].SequenceEqual(ClientPreface[..available]))
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "invalid client preface");
        }

        if (available < ClientPreface.Length)
        {
            return false;
        }

        buffer = buffer.Slice(ClientPreface.Length);
        _prefaceReceived = true;
        lock (_lock)
        {
            WriteSettingsLocked();
            _ = FlushLocked();
        }

        return true;
    }

    private bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out FrameHeader header, out ReadOnlySequence<byte> payload)
    {
        if (buffer.Length < FrameHeader.Size)
        {
            header = default;
            payload = default;
            return false;
        }

        header = FrameHeader.Read(buffer);
        if (header.Length > _options.MaxFrameSize)
        {
            throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, $"{header.Type} frame of {header.Length} bytes exceeds SETTINGS_MAX_FRAME_SIZE");
        }

        if (buffer.Length < FrameHeader.Size + header.Length)
        {
            payload = default;
            return false;
        }

        payload = buffer.Slice(FrameHeader.Size, header.Length);
        buffer = buffer.Slice(payload.End);
        return true;
    }

    private void ProcessFrame(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (_blockStreamId != 0 && header.Type != FrameType.Continuation)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, $"{header.Type} frame inside a header block");
        }

        if (!_settingsReceived)
        {
            if (header.Type != FrameType.Settings || header.HasFlag(FrameFlags.Ack))
            {
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "the first frame is not SETTINGS");
            }

            _settingsReceived = true;
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
            case FrameType.Priority:
                OnPriority(header);
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
                OnGoAway(header);
                break;
            case FrameType.WindowUpdate:
                OnWindowUpdate(header, payload);
                break;
            case FrameType.PushPromise:
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "PUSH_PROMISE from a client");
            default:
                // RFC 9113 §5.5: unknown frame types are ignored.
                break;
        }
    }

    private void RequireStream(in FrameHeader header)
    {
        if (header.StreamId == 0)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, $"{header.Type} on stream 0");
        }

        if (header.StreamId > _highestStreamId)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, $"{header.Type} on idle stream {header.StreamId}");
        }
    }

    private void OnData(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        RequireStream(header);
        var data = payload;
        if (header.HasFlag(FrameFlags.Padded))
        {
            var padding = header.Length == 0 ? -1 : FirstByte(payload);
            if (padding < 0 || padding >= header.Length)
            {
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "DATA padding exceeds the frame");
            }

            data = payload.Slice(1, header.Length - 1 - padding);
        }

        var endStream = header.HasFlag(FrameFlags.EndStream);
        lock (_lock)
        {
            if (header.Length > _connectionReceiveWindow)
            {
                throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, "DATA beyond the connection window");
            }

            _connectionReceiveWindow -= header.Length;
            if (!_streams.TryGetValue(header.StreamId, out var stream))
            {
                // A stream already closed or reset: its bytes go back to the connection window at once.
                ChargeFloodLocked();
                CreditConnectionLocked(header.Length);
                if (WasEndedByPeerLocked(header.StreamId))
                {
                    WriteRstStreamLocked(header.StreamId, Http2ErrorCode.StreamClosed, control: true);
                }

                _ = FlushLocked();
                return;
            }

            if (stream.RemoteClosed)
            {
                CreditConnectionLocked(header.Length);
                ResetStreamLocked(stream, Http2ErrorCode.StreamClosed, new IOException("DATA after END_STREAM"));
                _ = FlushLocked();
                return;
            }

            if (header.Length > stream.ReceiveWindow)
            {
                throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, "DATA beyond the stream window");
            }

            stream.ReceiveWindow -= header.Length;
            if (data.IsEmpty && !endStream)
            {
                ChargeFloodLocked();
            }

            var credit = header.Length - (int)data.Length;
            if (stream.InputDetached)
            {
                credit = header.Length;
            }
            else if (!data.IsEmpty)
            {
                stream.WriteInputLocked(data);
            }

            if (credit > 0)
            {
                CreditConnectionLocked(credit);
                CreditStreamLocked(stream, credit);
            }

            if (endStream)
            {
                stream.CompleteRemoteLocked();
                CloseIfDoneLocked(stream);
            }

            _ = FlushLocked();
        }
    }

    private void OnHeaders(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.StreamId == 0 || (header.StreamId & 1) == 0)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, $"HEADERS on stream {header.StreamId}");
        }

        var offset = 0;
        var padding = 0;
        if (header.HasFlag(FrameFlags.Padded))
        {
            if (header.Length < 1)
            {
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "HEADERS padding exceeds the frame");
            }

            padding = FirstByte(payload);
            offset = 1;
        }

        if (header.HasFlag(FrameFlags.Priority))
        {
            offset += 5;
        }

        if (offset + padding > header.Length)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "HEADERS padding exceeds the frame");
        }

        var fragment = payload.Slice(offset, header.Length - offset - padding);
        if (fragment.Length > 2L * _options.MaxRequestHeadersTotalSize)
        {
            throw new Http2ProtocolException(Http2ErrorCode.EnhanceYourCalm, $"header block larger than {2L * _options.MaxRequestHeadersTotalSize} compressed bytes");
        }

        _blockStreamId = header.StreamId;
        _blockEndStream = header.HasFlag(FrameFlags.EndStream);
        _blockContinuations = 0;
        _blockLength = 0;
        Volatile.Write(ref _blockStarted, Stopwatch.GetTimestamp());
        if (header.HasFlag(FrameFlags.EndHeaders) && fragment.IsSingleSegment)
        {
            // The usual case: one frame, one segment, decoded in place.
            EndHeaderBlock(fragment.FirstSpan);
            return;
        }

        AppendBlock(fragment);
        if (header.HasFlag(FrameFlags.EndHeaders))
        {
            EndHeaderBlock(_block.AsSpan(0, _blockLength));
        }
    }

    private void OnContinuation(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (_blockStreamId == 0 || header.StreamId != _blockStreamId)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "CONTINUATION without an open header block");
        }

        if (++_blockContinuations > MaxContinuations)
        {
            throw new Http2ProtocolException(Http2ErrorCode.EnhanceYourCalm, $"more than {MaxContinuations} CONTINUATION frames in one header block");
        }

        AppendBlock(payload);
        if (header.HasFlag(FrameFlags.EndHeaders))
        {
            EndHeaderBlock(_block.AsSpan(0, _blockLength));
        }
    }

    private void AppendBlock(in ReadOnlySequence<byte> fragment)
    {
        var limit = 2L * _options.MaxRequestHeadersTotalSize;
        var needed = _blockLength + fragment.Length;
        if (needed > limit)
        {
            throw new Http2ProtocolException(Http2ErrorCode.EnhanceYourCalm, $"header block larger than {limit} compressed bytes");
        }

        if (_block is null || _block.Length < needed)
        {
            var larger = ArrayPool<byte>.Shared.Rent((int)Math.Max(needed, 4096));
            if (_block is not null)
            {
                _block.AsSpan(0, _blockLength).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_block);
            }

            _block = larger;
        }

        fragment.CopyTo(_block.AsSpan(_blockLength));
        _blockLength = (int)needed;
    }

    private void EndHeaderBlock(ReadOnlySpan<byte> block)
    {
        var streamId = _blockStreamId;
        var endStream = _blockEndStream;
        _headers.Reset();
        bool fits;
        try
        {
            fits = _decoder.DecodeBounded(block, _headers, _options.MaxRequestHeadersTotalSize);
        }
        catch (HpackDecodingException ex)
        {
            throw new Http2ProtocolException(Http2ErrorCode.CompressionError, ex.Message);
        }
        finally
        {
            _blockStreamId = 0;
            _blockLength = 0;
            if (_block is { } rented)
            {
                _block = null;
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        bool refusedWhileDraining;
        lock (_lock)
        {
            refusedWhileDraining = OnRequestHeadersLocked(streamId, endStream, fits);
            _ = FlushLocked();
        }

        if (refusedWhileDraining)
        {
            // Logged outside the lock: the access-log callback is the application's code.
            Dispatcher.LogRefused(this, _headers.Authority, "draining");
        }
    }

    /// <summary>Answers or starts the stream of a complete request header block; true when it was refused because the connection drains.</summary>
    private bool OnRequestHeadersLocked(int streamId, bool endStream, bool fits)
    {
        if (_streams.TryGetValue(streamId, out var existing))
        {
            if (!_headers.AnyField && endStream && !existing.RemoteClosed)
            {
                // An empty block with END_STREAM only half-closes.
                existing.CompleteRemoteLocked();
                CloseIfDoneLocked(existing);
                return false;
            }

            // RFC 9113 §8.5: nothing but DATA may follow a CONNECT's request headers.
            ResetStreamLocked(existing, existing.RemoteClosed ? Http2ErrorCode.StreamClosed : Http2ErrorCode.ProtocolError, new IOException("HEADERS on an open tunnel"));
            return false;
        }

        if (streamId <= _highestStreamId && WasEndedByPeerLocked(streamId))
        {
            // HEADERS after the peer's END_STREAM on a stream that has since closed: a stream error still.
            ChargeFloodLocked();
            WriteRstStreamLocked(streamId, Http2ErrorCode.StreamClosed, control: true);
            return false;
        }

        if (streamId <= _highestStreamId)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, $"stream {streamId} is not above the last stream {_highestStreamId}");
        }

        _highestStreamId = streamId;
        if (_goAwaySent || _closed)
        {
            WriteRstStreamLocked(streamId, Http2ErrorCode.RefusedStream, control: false);
            return _goAwaySent;
        }

        if (!fits)
        {
            _headers.Discard();
            if (++_tooLargeAnswers > MaxTooLargeAnswers)
            {
                throw new Http2ProtocolException(Http2ErrorCode.EnhanceYourCalm, "too many oversized header lists");
            }
        }

        _lastProcessedStreamId = streamId;
        if (!fits)
        {
            WriteHeadersLocked(streamId, 431, endStream: true);
            return false;
        }

        if (_headers.Malformed is not null)
        {
            // RFC 9113 §8.1.1: a malformed request is a stream error; the connection lives.
            WriteRstStreamLocked(streamId, Http2ErrorCode.ProtocolError, control: false);
            return false;
        }

        if (_headers.Method == "CONNECT" && (_headers.Scheme is not null || _headers.Path is not null))
        {
            WriteRstStreamLocked(streamId, Http2ErrorCode.ProtocolError, control: false);
            return false;
        }

        if (_headers.Method is null)
        {
            WriteRstStreamLocked(streamId, Http2ErrorCode.ProtocolError, control: false);
            return false;
        }

        if (_streams.Count >= _options.MaxStreamsPerConnection)
        {
            WriteRstStreamLocked(streamId, Http2ErrorCode.RefusedStream, control: false);
            return false;
        }

        var stream = new Http2ServerStream(this, streamId, _streamReaderScheduler, _options.InitialStreamWindowSize, _peerInitialWindow)
        {
            Method = _headers.Method,
            Authority = _headers.Authority,
            Fields = _headers.TakeFields(),
        };
        _streams.Add(streamId, stream);
        if (endStream)
        {
            stream.CompleteRemoteLocked();
        }

        _activeHandlers++;
        ThreadPool.UnsafeQueueUserWorkItem(stream, preferLocal: false);

        return false;
    }

    private void OnPriority(in FrameHeader header)
    {
        if (header.StreamId == 0)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "PRIORITY on stream 0");
        }

        if (header.Length != 5)
        {
            throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, "PRIORITY length is not 5");
        }

        lock (_lock)
        {
            ChargeFloodLocked();
        }
    }

    private void OnRstStream(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.Length != 4)
        {
            throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, "RST_STREAM length is not 4");
        }

        RequireStream(header);
        var code = (Http2ErrorCode)ReadInt32(payload);
        lock (_lock)
        {
            if (!_streams.TryGetValue(header.StreamId, out var stream))
            {
                ChargeFloodLocked();
                return;
            }

            // Rapid reset (CVE-2023-44487) costs the server work it never finishes: streams reset before their answer.
            if (!stream.Answered && !_resets.TryCharge(Stopwatch.GetTimestamp()))
            {
                throw new Http2ProtocolException(Http2ErrorCode.EnhanceYourCalm, "rapid reset: too many streams reset by the client");
            }

            RemoveStreamLocked(stream);
            CreditConnectionLocked((int)stream.AbortLocked(Http2ServerStream.PeerResetException(code)));
            _ = FlushLocked();
        }
    }

    private void OnSettings(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (PeerSettingRules.ValidateFrame(header))
        {
            lock (_lock)
            {
                ChargeFloodLocked();
            }

            return;
        }

        Span<byte> entry = stackalloc byte[6];
        lock (_lock)
        {
            ChargeFloodLocked();
            for (var position = 0L; position < header.Length; position += 6)
            {
                payload.Slice(position, 6).CopyTo(entry);
                var id = BinaryPrimitives.ReadUInt16BigEndian(entry);
                var value = BinaryPrimitives.ReadUInt32BigEndian(entry[2..]);
                ApplySettingLocked(id, value);
            }

            WriteFrameLocked(FrameType.Settings, FrameFlags.Ack, 0, [], control: true);
            _ = FlushLocked();
        }
    }

    private void ApplySettingLocked(ushort id, uint value)
    {
        PeerSettingRules.Validate(id, value);
        switch (id)
        {
            case SettingId.InitialWindowSize:
                // A new initial window shifts every open stream's send window by the difference (RFC 9113 §6.9.2).
                var delta = (int)value - _peerInitialWindow;
                _peerInitialWindow = (int)value;
                foreach (var stream in _streams.Values)
                {
                    stream.SendWindow += delta;
                    if (stream.SendWindow > int.MaxValue)
                    {
                        throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, "a stream window above 2^31-1");
                    }

                    if (delta > 0)
                    {
                        stream.WakeWindowWaiterLocked();
                    }
                }

                break;
            case SettingId.MaxFrameSize:
                // Validated above; DATA stays record-aligned below any allowed value and our HEADERS are tiny.
                break;
            case SettingId.HeaderTableSize:
                // RFC 7541 §4.2: the next header block must open with a table size update (nghttp2 insists).
                _tableSizeUpdatePending = true;
                break;
            default:
                // The server never pushes and has no use for the peer's header list limit: the rest changes nothing.
                break;
        }
    }

    private void OnPing(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.StreamId != 0)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "PING on a stream");
        }

        if (header.Length != 8)
        {
            throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, "PING length is not 8");
        }

        Span<byte> data = stackalloc byte[8];
        payload.CopyTo(data);
        lock (_lock)
        {
            if (header.HasFlag(FrameFlags.Ack))
            {
                if (_pingSentAt != 0 && BinaryPrimitives.ReadInt64BigEndian(data) == _pingPayload)
                {
                    _pingSentAt = 0;
                }

                return;
            }

            ChargeFloodLocked();
            WriteFrameLocked(FrameType.Ping, FrameFlags.Ack, 0, data, control: true);
            _ = FlushLocked();
        }
    }

    private void OnGoAway(in FrameHeader header)
    {
        if (header.StreamId != 0)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "GOAWAY on a stream");
        }

        if (header.Length < 8)
        {
            throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, "GOAWAY shorter than 8 bytes");
        }

        lock (_lock)
        {
            // The client opens no more streams; the open ones finish, then the connection closes.
            _peerGoAway = true;
            CloseIfIdleLocked();
        }
    }

    private void OnWindowUpdate(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.Length != 4)
        {
            throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, "WINDOW_UPDATE length is not 4");
        }

        var increment = ReadInt32(payload) & int.MaxValue;
        if (header.StreamId == 0)
        {
            if (increment == 0)
            {
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "WINDOW_UPDATE increment 0 on the connection");
            }

            lock (_lock)
            {
                if (_connectionDataFramesUnanswered > 0)
                {
                    _connectionDataFramesUnanswered--;
                }
                else
                {
                    ChargeFloodLocked();
                }

                _connectionSendWindow += increment;
                if (_connectionSendWindow > int.MaxValue)
                {
                    throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, "connection window above 2^31-1");
                }

                foreach (var stream in _streams.Values)
                {
                    stream.WakeWindowWaiterLocked();
                }
            }

            return;
        }

        RequireStream(header);
        lock (_lock)
        {
            if (!_streams.TryGetValue(header.StreamId, out var stream))
            {
                if (_closedStreamDataFramesUnanswered > 0)
                {
                    _closedStreamDataFramesUnanswered--;
                }
                else
                {
                    ChargeFloodLocked();
                }

                return;
            }

            if (stream.DataFramesUnanswered > 0)
            {
                stream.DataFramesUnanswered--;
            }
            else
            {
                ChargeFloodLocked();
            }

            if (increment == 0)
            {
                ResetStreamLocked(stream, Http2ErrorCode.ProtocolError, new IOException("WINDOW_UPDATE increment 0"));
            }
            else if (stream.SendWindow + increment > int.MaxValue)
            {
                ResetStreamLocked(stream, Http2ErrorCode.FlowControlError, new IOException("stream window above 2^31-1"));
            }
            else
            {
                stream.SendWindow += increment;
                stream.WakeWindowWaiterLocked();
                return;
            }

            _ = FlushLocked();
        }
    }

    private void ChargeFloodLocked()
    {
        if (!_flood.TryCharge(Stopwatch.GetTimestamp()))
        {
            throw new Http2ProtocolException(Http2ErrorCode.EnhanceYourCalm, "control frame flood");
        }
    }

    private static byte FirstByte(in ReadOnlySequence<byte> payload)
    {
        Span<byte> first = stackalloc byte[1];
        payload.Slice(0, 1).CopyTo(first);
        return first[0];
    }

    private static int ReadInt32(in ReadOnlySequence<byte> payload)
    {
        Span<byte> value = stackalloc byte[4];
        payload.Slice(0, 4).CopyTo(value);
        return BinaryPrimitives.ReadInt32BigEndian(value);
    }
}
